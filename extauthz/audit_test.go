package extauthz

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/policy"
)

func openSpool(t *testing.T, maxBytes int64) *audit.Spool {
	t.Helper()
	sp, err := audit.OpenSpool(audit.SpoolOptions{Dir: t.TempDir(), MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

func spooled(t *testing.T, sp *audit.Spool) []audit.Event {
	t.Helper()
	select {
	case <-sp.Durable():
	case <-time.After(5 * time.Second):
	}
	c := sp.Cursor(0)
	defer c.Close()
	recs, err := c.Next(1000)
	if err != nil {
		t.Fatal(err)
	}
	var evs []audit.Event
	for _, r := range recs {
		ev, _, err := audit.ParseEvent(r.Canonical)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func decideFor(t *testing.T, body string) Result {
	t.Helper()
	reg := exampleRegistry(t)
	schemas, err := CompileSchemas(reg)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Auth: tokens{"bob": bob}, Policy: defaultPolicy(t), Authz: grants{
		"trader-bob|trade-executor|northwind|trading/get_quote":   true,
		"trader-bob|trade-executor|northwind|trading/place_trade": true}}
	in := Input{DecisionID: "d-audit", Registry: reg, Schemas: schemas, ServerID: "trading", Bearer: "bob", MaxBodyBytes: 1 << 20,
		Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Request: post(body)}
	return Decide(context.Background(), in, deps)
}

const (
	tradeCall = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"place_trade","arguments":{"symbol":"ACME","side":"buy","quantity":10,"account":"ACC-1"},` +
		`"_meta":{"actiongate.dev/prompt-hash":"sha256:abc","actiongate.dev/model":"claude-x@1","actiongate.dev/context-refs":["doc://1"],"gen_ai.tool.call.id":"call_1"}}}`
	quoteCall = `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get_quote","arguments":{"symbol":"ACME"}}}`
)

type memInputs map[string][]byte

func (m memInputs) RecordInput(in *policy.Input) (string, error) {
	doc, err := in.JSON()
	if err != nil {
		return "", err
	}
	h := "sha256:test" + string(rune('a'+len(m)))
	m[h] = doc
	return h, nil
}

func TestRecordDecision_DurableEventForMutatingCall(t *testing.T) {
	sp := openSpool(t, 0)
	inputs := memInputs{}
	res := decideFor(t, tradeCall)
	if !res.Decision.Allowed() || res.ReadOnly || res.PolicyInput == nil {
		t.Fatalf("setup: %+v readOnly=%v", res.Decision, res.ReadOnly)
	}
	out := recordDecision(AuditOptions{Recorder: sp, Inputs: inputs}, res, time.Now(), func(r string) { t.Fatalf("lost: %s", r) })
	if !out.Decision.Allowed() {
		t.Fatalf("recorded mutating call denied: %+v", out.Decision)
	}
	evs := spooled(t, sp)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if ev.DecisionID != "d-audit" || ev.Tool != "place_trade" || ev.User != "trader-bob" || ev.Agent != "trade-executor" ||
		ev.Tenant != "northwind" || ev.Outcome != "allow" || ev.PolicyRevision == "" || ev.RegistryVersion == "" ||
		!strings.HasPrefix(ev.CallHash, "sha-256:") || ev.RequestID != "7" || ev.PromptHash != "sha256:abc" ||
		ev.Model != "claude-x@1" || ev.ToolCallID != "call_1" || len(ev.ContextRefs) != 1 || ev.Arguments != nil {
		t.Fatalf("event fields: %+v", ev)
	}
	if doc := inputs[ev.InputHash]; ev.InputHash == "" || !json.Valid(doc) || !strings.Contains(string(doc), `"quantity":10`) {
		t.Fatalf("input %q not recorded: %s", ev.InputHash, doc)
	}
}

func TestRecordDecision_FullSpool(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		continueR bool
		reason    decision.Reason
	}{
		{"mutating call denied", tradeCall, true, decision.ReasonAuditUnavailable},
		{"read-only call denied by default", quoteCall, false, decision.ReasonAuditUnavailable},
		{"read-only call continues when configured", quoteCall, true, decision.ReasonAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := openSpool(t, 8<<10)
			filler := decideFor(t, quoteCall)
			for i := 0; ; i++ {
				ev, _ := audit.FromDecision(filler.Decision, audit.Extras{})
				if err := sp.AppendAsync(&ev); err != nil {
					break
				}
				if i > 10000 {
					t.Fatal("spool never filled")
				}
			}
			lost := ""
			out := recordDecision(AuditOptions{Recorder: sp, ReadOnlyContinue: tc.continueR}, decideFor(t, tc.body), time.Now(),
				func(r string) { lost = r })
			if out.Decision.Reason != tc.reason || lost != "spool_full" {
				t.Fatalf("reason %s, lost %q; want %s, spool_full", out.Decision.Reason, lost, tc.reason)
			}
			if tc.reason == decision.ReasonAuditUnavailable {
				resp := Respond(out, MetadataOptions{})
				if resp.GetDeniedResponse().GetStatus().GetCode() != 503 {
					t.Fatalf("audit_unavailable answered %v", resp.GetDeniedResponse().GetStatus())
				}
			}
		})
	}
}

// BenchmarkRecordDecision is what auditing adds to one decision: building
// the event (call hash included) and appending it to a real spool, without
// waiting for the fsync (read-only calls, denials) and with it (mutating
// calls, durable before the answer; concurrent callers share a group
// commit). Run with -cpu to vary the number of concurrent decisions.
func BenchmarkRecordDecision(b *testing.B) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"async", quoteCall},
		{"durable", tradeCall},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sp, err := audit.OpenSpool(audit.SpoolOptions{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			reg := exampleRegistry(b)
			schemas, _ := CompileSchemas(reg)
			deps := Deps{Auth: tokens{"bob": bob}, Policy: defaultPolicy(b), Authz: grants{
				"trader-bob|trade-executor|northwind|trading/get_quote":   true,
				"trader-bob|trade-executor|northwind|trading/place_trade": true}}
			in := Input{DecisionID: "d-audit", Registry: reg, Schemas: schemas, ServerID: "trading", Bearer: "bob", MaxBodyBytes: 1 << 20,
				Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Request: post(tc.body)}
			res := Decide(context.Background(), in, deps)
			if !res.Decision.Allowed() {
				b.Fatalf("setup: %+v", res.Decision)
			}
			o := AuditOptions{Recorder: sp}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if out := recordDecision(o, res, time.Now(), func(string) {}); !out.Decision.Allowed() {
						b.Error("denied")
						return
					}
				}
			})
		})
	}
}
