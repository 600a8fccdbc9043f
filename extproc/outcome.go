package extproc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/telemetry"
)

// Recorder is where outcome events go (*audit.Spool). Outcomes are written
// without waiting for the fsync: the call already happened, and the next
// group commit makes the event durable.
type Recorder interface {
	AppendAsync(ev *audit.Event) error
}

// outcome is what the response phases learned about the answer.
type outcome struct {
	errorType string // "" for a successful result
	output    []byte // the message forwarded to the agent, when whole
}

// finish writes the exchange's outcome event, once. It links to the
// decision by id and call hash, and carries everything the response phases
// did: redactions, interceptions, hidden tools, what was withheld.
func finish(e *env, st *state, o outcome) {
	if st.finished || !st.sawRequest {
		return
	}
	st.finished = true
	endSpan(st, o)
	if e.recorder == nil {
		return
	}
	x := &st.x
	d := decision.Decision{ID: x.DecisionID, Outcome: decision.Allow, Reason: decision.ReasonAllowed,
		Server: x.Server, Method: x.Method, Tool: x.Tool,
		Principal: principal.Principal{User: x.User, Agent: x.Agent, Tenant: x.Tenant, Task: x.Task}}
	ex := audit.Extras{Kind: audit.KindOutcome, Time: time.Now(), Arguments: x.Arguments, ErrorType: o.errorType}
	if !st.started.IsZero() {
		ex.Latency = time.Since(st.started)
	}
	if x.RPCID != nil {
		ex.RequestID = string(x.RPCID)
	}
	if n := x.notes; n != nil {
		for _, f := range n.Findings {
			ex.Redactions = append(ex.Redactions, f.String())
		}
		for _, h := range n.Hidden {
			s := "hidden/" + h.Why + "/" + h.Tool
			if h.Why == hiddenChanged {
				s += "/pinned=" + h.Pinned + "/advertised=" + h.Advertised
			}
			ex.Redactions = append(ex.Redactions, s)
		}
		if n.Blocked != "" {
			d.Outcome, d.Reason = decision.Deny, decision.Reason(n.Blocked)
			ex.ErrorType = n.Blocked
		}
	}
	if len(o.output) == 0 && x.notes != nil && x.notes.Output != nil {
		o.output = x.notes.Output
		if ex.ErrorType == "" {
			ex.ErrorType = errorTypeOf(o.output)
		}
	}
	if len(o.output) > 0 {
		if h, err := audit.ContentHash(o.output); err == nil {
			ex.OutputHash = h
		}
	}
	ev, err := audit.FromDecision(d, ex)
	if err == nil {
		err = e.recorder.AppendAsync(&ev)
	}
	if err != nil {
		e.problem("audit_outcome_lost")
		e.log.Error("outcome event not recorded", "decision_id", x.DecisionID, "err", err)
	}
}

// errorTypeOf classifies a forwarded JSON-RPC response: "" for a result,
// "tool_error" for a result with isError, "jsonrpc:<code>" for an error.
func errorTypeOf(body []byte) string {
	if !bytes.Contains(body, []byte(`"error"`)) && !bytes.Contains(body, []byte(`"isError"`)) {
		return "" // no member that could say otherwise (the body parsed as JSON-RPC)
	}
	var m struct {
		Result *struct {
			IsError bool `json:"isError"`
		} `json:"result"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &m) != nil {
		return "unreadable"
	}
	switch {
	case m.Error != nil:
		return "jsonrpc:" + strconv.Itoa(m.Error.Code)
	case m.Result != nil && m.Result.IsError:
		return "tool_error"
	}
	return ""
}

// endSpan ends the exchange's span with what the response phases saw:
// identifiers and counts only.
func endSpan(st *state, o outcome) {
	r := telemetry.Result{HTTPStatus: st.status, ToolError: o.errorType == "tool_error"}
	if code, ok := strings.CutPrefix(o.errorType, "jsonrpc:"); ok {
		r.RPCErrorCode, _ = strconv.Atoi(code)
	}
	if n := st.x.notes; n != nil {
		for _, f := range n.Findings {
			if f.Kind == "redaction" && f.Action != "report" {
				r.Redactions++
			}
		}
		if n.Blocked != "" {
			r.ErrorType = decision.Reason(n.Blocked)
		}
	}
	if o.errorType == "incomplete" {
		r.ErrorType = "incomplete"
	}
	telemetry.EndProcessing(st.span, r)
}

// noteResponseEvent keeps, for the outcome event, the message of the SSE
// event that answered this exchange's request, as forwarded.
func noteResponseEvent(x *exchange, ev *mcp.SSEEvent) ([]byte, error) {
	if x.notes == nil || x.RPCID == nil {
		return ev.Raw, nil
	}
	f := ev.Fields()
	if f.HasData && isResponseTo(f.Data, x) {
		x.notes.Output = append([]byte(nil), f.Data...)
	}
	return ev.Raw, nil
}
