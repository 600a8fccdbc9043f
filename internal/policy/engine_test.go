package policy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/decision"
)

func TestEngine_EvaluateDefaultPolicy(t *testing.T) {
	t.Parallel()
	e := mustDefaultEngine(t)
	trade := func(symbol string, qty any) map[string]any {
		return map[string]any{"symbol": symbol, "side": "buy", "quantity": qty, "account": "ACC-7"}
	}
	tests := []struct {
		name          string
		in            Input
		outcome       decision.Outcome
		reasons       []string
		auditDetailed bool
	}{
		{"tier1 read-only allowed", callInput(t, "note-summarizer", "dr-alice", "ehr", "read_chart", map[string]any{"patient_id": "p-1001"}),
			decision.Allow, []string{"allow:read_only"}, true},
		{"tier1 write needs approval", callInput(t, "note-summarizer", "dr-alice", "ehr", "write_summary", map[string]any{"patient_id": "p-1001", "summary": "stable"}),
			decision.ApprovalRequired, []string{"approval_required:destructive", "approval_required:tier1_non_read_only"}, true},
		{"tier2 quote allowed", callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"}),
			decision.Allow, []string{"allow:read_only"}, false},
		{"small trade allowed", callInput(t, "trade-executor", "trader-bob", "trading", "place_trade", trade("ACME", 10)),
			decision.Allow, []string{"allow:trade_within_limit"}, false},
		{"large trade needs approval", callInput(t, "trade-executor", "trader-bob", "trading", "place_trade", trade("ACME", 100)),
			decision.ApprovalRequired, []string{"approval_required:trade_over_limit"}, false},
		{"restricted instrument denied", callInput(t, "trade-executor", "trader-bob", "trading", "place_trade", trade("RSTR", 1)),
			decision.Deny, []string{"restricted_instrument"}, false},
		{"unknown symbol needs approval", callInput(t, "trade-executor", "trader-bob", "trading", "place_trade", trade("ZZZZ", 1)),
			decision.ApprovalRequired, []string{"approval_required:unpriced_instrument"}, false},
		{"string quantity denied", callInput(t, "trade-executor", "trader-bob", "trading", "place_trade", trade("ACME", "10")),
			decision.Deny, []string{"invalid_trade_arguments"}, false},
		{"send email needs step-up", callInput(t, "inbox-assistant", "trader-bob", "mail", "send_email", map[string]any{"to": "x@example.com"}),
			decision.ApprovalRequired, []string{"approval_required:step_up:external_email"}, false},
		{"critical risk needs approval", criticalInput(t), decision.ApprovalRequired, []string{"approval_required:critical_risk"}, false},
		{"unregistered agent denied", withoutAgent(callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})),
			decision.Deny, []string{"invalid_agent_tier"}, false},
		{"tools/list allowed", toolsList(callInput(t, "note-summarizer", "dr-alice", "ehr", "read_chart", map[string]any{})),
			decision.Allow, []string{"allow:not_a_tool_call"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := e.Evaluate(context.Background(), tc.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got := res.Outcome(); got != tc.outcome {
				t.Errorf("outcome = %s, want %s (reasons %v)", got, tc.outcome, res.Reasons)
			}
			if !slices.Equal(res.Reasons, tc.reasons) {
				t.Errorf("reasons = %q, want %q", res.Reasons, tc.reasons)
			}
			if res.Revision != e.Revision() || !strings.HasPrefix(res.Revision, "sha256:") {
				t.Errorf("revision = %q, want the engine's %q", res.Revision, e.Revision())
			}
			if got := res.Obligations["audit_detail"] == "full"; got != tc.auditDetailed {
				t.Errorf("obligations = %v, want audit_detail=full: %v", res.Obligations, tc.auditDetailed)
			}
		})
	}
}

func criticalInput(t *testing.T) Input {
	in := callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})
	tool := *in.Tool
	tool.Risk = "critical"
	in.Tool = &tool
	return in
}

func withoutAgent(in Input) Input { in.Agent = nil; return in }

func toolsList(in Input) Input { in.Call = Call{Method: "tools/list"}; return in }

// Replay: the recorded JSON document reaches the same result as the typed input.
func TestEngine_EvaluateDocumentMatchesEvaluate(t *testing.T) {
	t.Parallel()
	e := mustDefaultEngine(t)
	in := callInput(t, "trade-executor", "trader-bob", "trading", "place_trade",
		map[string]any{"symbol": "ACME", "side": "buy", "quantity": 100, "account": "ACC-7"})
	want, err := e.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := in.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("Input.JSON is not JSON: %v", err)
	}
	if m["time"] != "2026-03-04T15:00:00Z" || m["agent"].(map[string]any)["tier"] != float64(2) {
		t.Errorf("document = %s", doc)
	}
	got, err := e.EvaluateDocument(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome() != want.Outcome() || !slices.Equal(got.Reasons, want.Reasons) || got.Revision != want.Revision {
		t.Errorf("replayed %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{}`, `{"time": 5}`, `{"time": "yesterday"}`, `[]`, `{"time": "2026-03-04T15:00:00Z"`} {
		if res, err := e.EvaluateDocument(context.Background(), []byte(bad)); err == nil {
			t.Errorf("EvaluateDocument(%s) = %+v, want an error", bad, res)
		}
	}
}

func TestEngine_EvaluateFailsClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		want   string
	}{
		{"non-object", `package actiongate.authz
decision := true`, "must be an object"},
		{"undefined", `package actiongate.authz
decision := {"allow": true, "approval_required": false, "reasons": [], "obligations": {}} if input.never`, "undefined"},
		{"missing key", `package actiongate.authz
decision := {"allow": true, "approval_required": false, "reasons": [], "obligation": {}}`, "obligations is missing"},
		{"extra key", `package actiongate.authz
decision := {"allow": true, "approval_required": false, "reasons": [], "obligations": {}, "why": 1}`, "exactly the keys"},
		{"string allow", `package actiongate.authz
decision := {"allow": "yes", "approval_required": false, "reasons": [], "obligations": {}}`, "allow must be a boolean"},
		{"both outcomes", `package actiongate.authz
decision := {"allow": true, "approval_required": true, "reasons": ["x"], "obligations": {}}`, "both true"},
		{"deny without reason", `package actiongate.authz
decision := {"allow": false, "approval_required": false, "reasons": [], "obligations": {}}`, "must give a reason"},
		{"non-string reason", `package actiongate.authz
decision := {"allow": false, "approval_required": false, "reasons": [1], "obligations": {}}`, "non-empty strings"},
		{"builtin error", `package actiongate.authz
decision := {"allow": to_number("x") > 0, "approval_required": false, "reasons": [], "obligations": {}}`, "evaluation failed"},
		{"conflicting values", `package actiongate.authz
decision := {"allow": true, "approval_required": false, "reasons": [], "obligations": {}} if input.call.method
decision := {"allow": false, "approval_required": false, "reasons": ["no"], "obligations": {}} if input.time`, "evaluation failed"},
	}
	in := callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := LoadBundle(writeBundle(t, map[string]string{"p.rego": tc.policy}))
			if err != nil {
				t.Fatal(err)
			}
			e, err := Compile(context.Background(), b)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			res, err := e.Evaluate(context.Background(), in)
			if err == nil {
				t.Fatalf("Evaluate = %+v, want an error", res)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), b.Revision()) {
				t.Errorf("error %q, want it to contain %q and the revision", err, tc.want)
			}
		})
	}
}

func TestEngine_EvaluateDeadline(t *testing.T) {
	t.Parallel()
	e := mustDefaultEngine(t)
	in := callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Evaluate(ctx, in); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
	// A policy slow enough to outlive its deadline is stopped, and the
	// caller gets an error, not a late decision.
	b, err := LoadBundle(writeBundle(t, map[string]string{"slow.rego": `package actiongate.authz
n := count([1 | some x in numbers.range(1, 3000); some y in numbers.range(1, 3000); x * y == 7])
decision := {"allow": n > 0, "approval_required": false, "reasons": [], "obligations": {}}`}))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if res, err := slow.Evaluate(ctx, in); err == nil {
		t.Fatalf("slow policy: %+v, want an error", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}

func TestEngine_EvaluateRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := mustDefaultEngine(t)
	base := callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})
	tests := []struct {
		name string
		mod  func(*Input)
	}{
		{"zero time", func(in *Input) { in.Time = time.Time{} }},
		{"array arguments", func(in *Input) { in.Call.Arguments = json.RawMessage(`[1]`) }},
		{"duplicate argument keys", func(in *Input) { in.Call.Arguments = json.RawMessage(`{"symbol":"ACME","symbol":"RSTR"}`) }},
		{"truncated arguments", func(in *Input) { in.Call.Arguments = json.RawMessage(`{"symbol":`) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := base
			tc.mod(&in)
			if res, err := e.Evaluate(context.Background(), in); err == nil {
				t.Errorf("Evaluate = %+v, want an error", res)
			}
		})
	}
}

// The default policy without its data.json must escalate, never allow more:
// a deployment that forgets the data fails safe.
func TestEngine_DefaultPolicyWithoutDataEscalates(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "..", "policy", "actiongate", "authz.rego"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(writeBundle(t, map[string]string{"actiongate/authz.rego": string(src)}))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      Input
		outcome decision.Outcome
	}{
		{"small trade", callInput(t, "trade-executor", "trader-bob", "trading", "place_trade",
			map[string]any{"symbol": "ACME", "side": "buy", "quantity": 1, "account": "ACC-7"}), decision.ApprovalRequired},
		{"quote", callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"}), decision.Allow},
	}
	for _, tc := range tests {
		res, err := e.Evaluate(context.Background(), tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome() != tc.outcome {
			t.Errorf("%s: %s %v, want %s", tc.name, res.Outcome(), res.Reasons, tc.outcome)
		}
	}
}
