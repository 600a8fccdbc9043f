package extproc

import (
	"context"
	"fmt"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/outguard"
)

// chainJSON runs transforms in order, each on the previous one's output.
// A transform that withholds the message returns the error body that
// replaces it; later transforms see that body (an error response) and
// leave it alone.
func chainJSON(ts ...jsonTransform) jsonTransform {
	return func(x *exchange, msg *mcp.Message, body []byte) ([]byte, error) {
		var err error
		for _, t := range ts {
			if body, err = t(x, msg, body); err != nil {
				return nil, err
			}
		}
		return body, nil
	}
}

// chainEvent does the same for SSE events: each transform gets the event
// as the previous one re-framed it.
func chainEvent(ts ...eventTransform) eventTransform {
	return func(x *exchange, ev *mcp.SSEEvent) ([]byte, error) {
		raw := ev.Raw
		for i, t := range ts {
			out, err := t(x, &mcp.SSEEvent{Raw: raw, Terminated: ev.Terminated})
			if err != nil {
				return nil, err
			}
			if len(out) == 0 && i < len(ts)-1 {
				return out, nil // dropped
			}
			raw = out
		}
		return raw, nil
	}
}

// guardJSON applies the output policy to a whole JSON-RPC message.
func guardJSON(e *env) jsonTransform {
	return func(x *exchange, _ *mcp.Message, body []byte) ([]byte, error) {
		if e.guard == nil {
			return body, nil
		}
		out, err := e.guard.Message(context.Background(), x.Class, body, x.Creds)
		if err != nil {
			return nil, fmt.Errorf("output policy: %w", err)
		}
		record(e, x, out)
		if out.Blocked != nil {
			return withheldBody(x, out.Blocked), nil
		}
		return out.Body, nil
	}
}

// guardEvent applies the output policy to the JSON-RPC message of one SSE
// event. A withheld response becomes an error response for the same
// request; a withheld notification or server request is dropped (there is
// nothing for the client to wait for). Events without data (keep-alives,
// retry hints) pass as they are.
func guardEvent(e *env) eventTransform {
	return func(x *exchange, ev *mcp.SSEEvent) ([]byte, error) {
		if e.guard == nil {
			return ev.Raw, nil
		}
		f := ev.Fields()
		if !f.HasData || len(f.Data) == 0 {
			return ev.Raw, nil
		}
		out, err := e.guard.Message(context.Background(), x.Class, f.Data, x.Creds)
		if err != nil {
			return nil, fmt.Errorf("output policy: %w", err)
		}
		record(e, x, out)
		switch {
		case out.Blocked != nil && isResponseTo(f.Data, x):
			return mcp.ReencodeSSEEvent(f, withheldBody(x, out.Blocked)), nil
		case out.Blocked != nil:
			return nil, nil
		case !out.Changed:
			return ev.Raw, nil
		}
		return mcp.ReencodeSSEEvent(f, out.Body), nil
	}
}

// isResponseTo reports whether data is the JSON-RPC response to this
// exchange's request (as opposed to a notification or a server request
// on the same stream).
func isResponseTo(data []byte, x *exchange) bool {
	msg, err := mcp.Parse(data, len(data)+1)
	if err != nil {
		return x.RPCID != nil // unreadable: assume it was the answer, so the client is not left waiting
	}
	return msg.Method == "" && x.RPCID != nil && string(msg.ID) == string(x.RPCID)
}

// withheldBody is the JSON-RPC error that replaces a withheld message: the
// reason and the kind of finding, never what was found.
func withheldBody(x *exchange, b *outguard.Blocked) []byte {
	return mcp.ErrorBody(x.RPCID, mcp.CodePolicyDenied, "Tool result withheld by the gateway's output policy",
		&mcp.ErrorData{Reason: b.Reason, DecisionID: x.DecisionID, Detail: b.Detail})
}

// record notes, counts and logs what the guard did. Findings never hold
// the matched text, so they are safe to log.
func record(e *env, x *exchange, out outguard.Outcome) {
	if len(out.Findings) > 0 {
		// One line per message: a body with many findings must not cost a
		// log call each.
		list := make([]string, len(out.Findings))
		for i, f := range out.Findings {
			e.finding(f)
			list[i] = f.String()
		}
		e.log.Info("output guard", "decision_id", x.DecisionID, "server", x.Server, "tool", x.Tool,
			"findings", strings.Join(list, " "))
	}
	if out.Blocked != nil {
		e.problem(out.Blocked.Reason)
		e.log.Warn("tool output withheld", "decision_id", x.DecisionID, "server", x.Server, "tool", x.Tool,
			"reason", out.Blocked.Reason, "detail", out.Blocked.Detail)
	}
	if x.notes == nil {
		return
	}
	x.notes.Findings = append(x.notes.Findings, out.Findings...)
	if out.Blocked != nil {
		x.notes.Blocked = out.Blocked.Reason
	}
}

// checkArguments refuses a tools/call whose arguments carry an injected
// instruction above the configured bar; nil means go on.
func checkArguments(e *env, x *exchange, msg *mcp.Message) (*extprocv3.ProcessingResponse, error) {
	if e.guard == nil || !msg.IsToolCall() {
		return nil, nil
	}
	out, err := e.guard.Arguments(context.Background(), msg.Arguments)
	if err != nil {
		return nil, fmt.Errorf("argument scan: %w", err)
	}
	record(e, x, out)
	if out.Blocked == nil {
		return nil, nil
	}
	body := mcp.ErrorBody(x.RPCID, mcp.CodePolicyDenied, "Tool call refused: its arguments look like an injected instruction",
		&mcp.ErrorData{Reason: out.Blocked.Reason, DecisionID: x.DecisionID, Detail: out.Blocked.Detail})
	return immediateJSON(200, body, "actiongate_"+out.Blocked.Reason), nil
}
