package extauthz

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/policy"
)

// Recorder is where decision events go (*audit.Spool): Append returns once
// the event is durable, AppendAsync once it is ordered and written.
type Recorder interface {
	Append(ev *audit.Event) error
	AppendAsync(ev *audit.Event) error
}

// InputStore keeps what a decision evaluated, content-addressed, for
// replay; it returns the address the event records.
type InputStore interface {
	RecordInput(in *policy.Input) (string, error)
}

// AuditOptions say how decisions are recorded.
type AuditOptions struct {
	// Recorder nil: decisions are not audited (the app refuses that unless
	// audit is explicitly disabled).
	Recorder Recorder
	// RecordArguments puts the canonical arguments in the event; by
	// default only the call hash covers them.
	RecordArguments bool
	// ReadOnlyContinue lets read-only calls proceed when their event
	// cannot be written (spool full); mutating calls are always denied.
	ReadOnlyContinue bool
	// Inputs, when set, keeps each policy input for `audit replay`.
	Inputs InputStore
}

// Client-supplied provenance read from a tools/call's params._meta
// (docs/audit.md). Attribution only: never an input to the decision.
const (
	metaPromptHash  = "actiongate.dev/prompt-hash"
	metaContextRefs = "actiongate.dev/context-refs"
	metaModel       = "actiongate.dev/model"
	metaToolCallID  = "gen_ai.tool.call.id"
	maxMetaLen      = 1024
	maxContextRefs  = 64
)

// recordDecision writes res's audit event before the answer leaves, and
// returns the result to answer with. A mutating call is allowed only once
// its event is durable; when it cannot be written the call is denied with
// audit_unavailable (fail closed). Read-only calls and denials are written
// without waiting for the fsync.
func recordDecision(o AuditOptions, res Result, started time.Time, onLost func(reason string)) Result {
	if o.Recorder == nil {
		return res
	}
	d := res.Decision
	x := audit.Extras{Time: time.Now(), Latency: time.Since(started), RecordArguments: o.RecordArguments}
	if res.RequestID != nil {
		x.RequestID = string(res.RequestID)
	}
	if m := res.Message; m != nil {
		if m.IsToolCall() {
			x.Arguments = m.Arguments
		}
		readProvenance(m.Meta, &x)
	}
	if dr := d.Drift; dr != nil {
		// A refused rug pull is audited with both definition hashes.
		x.Redactions = append(x.Redactions, "drift/"+d.Server+"/"+d.Tool+"/pinned="+dr.Pinned+"/advertised="+dr.Advertised)
	}
	var inputHash string
	if o.Inputs != nil && res.PolicyInput != nil {
		var err error
		inputHash, err = o.Inputs.RecordInput(res.PolicyInput)
		if err != nil && d.Allowed() && !res.ReadOnly {
			onLost("input_store")
			return denyAudit(res)
		}
	}
	ev, err := audit.FromDecision(d, x)
	if err != nil {
		onLost("unencodable")
		if d.Allowed() {
			return denyAudit(res)
		}
		return res
	}
	ev.InputHash = inputHash
	if d.Allowed() && !res.ReadOnly {
		if err := o.Recorder.Append(&ev); err != nil {
			onLost(lostReason(err))
			return denyAudit(res)
		}
		return res
	}
	if err := o.Recorder.AppendAsync(&ev); err != nil {
		onLost(lostReason(err))
		if d.Allowed() && !o.ReadOnlyContinue {
			return denyAudit(res)
		}
	}
	return res
}

func denyAudit(res Result) Result {
	out := deny(res.Decision, decision.ReasonAuditUnavailable,
		"the gateway could not record this call in its audit trail, so it was not made", res.RequestID)
	out.Message, out.ReadOnly, out.PolicyInput = res.Message, res.ReadOnly, res.PolicyInput
	return out
}

func lostReason(err error) string {
	switch {
	case errors.Is(err, audit.ErrSpoolFull):
		return "spool_full"
	case errors.Is(err, audit.ErrClosed):
		return "spool_closed"
	}
	return "spool_error"
}

// readProvenance copies the provenance keys a client put in _meta, if
// they have the documented shape; anything else is ignored.
func readProvenance(meta json.RawMessage, x *audit.Extras) {
	if len(meta) == 0 {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(meta, &m) != nil {
		return
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(m[k], &s) != nil || len(s) > maxMetaLen {
			return ""
		}
		return s
	}
	x.PromptHash, x.Model, x.ToolCallID = str(metaPromptHash), str(metaModel), str(metaToolCallID)
	var refs []string
	if json.Unmarshal(m[metaContextRefs], &refs) == nil && len(refs) <= maxContextRefs {
		for _, r := range refs {
			if r != "" && len(r) <= maxMetaLen {
				x.ContextRefs = append(x.ContextRefs, r)
			}
		}
	}
}
