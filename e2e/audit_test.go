package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/replay"
)

// auditEvents reads the events topic until cond holds or the deadline.
func auditEvents(t *testing.T, what string, cond func([]audit.Event) bool) []audit.Event {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		entries, err := audit.ReadEvents(ctx, env.stack.Kafka.Brokers, audit.DefaultTopic)
		if err != nil {
			t.Fatal(err)
		}
		var evs []audit.Event
		for _, e := range entries {
			if e.Problem != "" {
				t.Fatalf("%s: %s", e.Where, e.Problem)
			}
			ev, _, err := audit.ParseEvent(e.Raw)
			if err != nil {
				t.Fatalf("%s: %v", e.Where, err)
			}
			evs = append(evs, ev)
		}
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit topic: %s not seen within 15s (%d events)", what, len(evs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func byDecision(evs []audit.Event, id string, kind audit.Kind) *audit.Event {
	for i := range evs {
		if evs[i].DecisionID == id && evs[i].Kind == kind {
			return &evs[i]
		}
	}
	return nil
}

// TestAuditTrail: an allowed and a denied call each yield a decision event
// in Kafka with the documented fields, the allowed one also an outcome
// event linked by decision id and call hash; the allowed decision replays
// to the same outcome from the content store; the log verifies against the
// instance's checkpoint key.
func TestAuditTrail(t *testing.T) {
	task := "audit-" + time.Now().Format("150405.000000")
	cs := connectAs(t, "trading", token(t, bob))
	_ = callText(t, cs, "get_quote", map[string]any{"symbol": "ACME"})
	reason := callAs(t, "trading", token(t, bob), "place_trade",
		map[string]any{"symbol": "RSTR", "side": "buy", "quantity": 1, "account": "ACC-" + task})
	if reason != "policy_denied" {
		t.Fatalf("restricted instrument: %q", reason)
	}

	var allowed, denied *audit.Event
	evs := auditEvents(t, "both decisions", func(evs []audit.Event) bool {
		allowed, denied = nil, nil
		for i := range evs {
			ev := &evs[i]
			if ev.Kind != audit.KindDecision || ev.User != "trader-bob" {
				continue
			}
			if ev.Tool == "get_quote" && ev.Outcome == "allow" {
				allowed = ev // the last one: ours
			}
			if ev.Tool == "place_trade" && ev.Reason == "policy_denied" {
				denied = ev
			}
		}
		return allowed != nil && denied != nil && byDecision(evs, allowed.DecisionID, audit.KindOutcome) != nil
	})
	for _, ev := range []*audit.Event{allowed, denied} {
		if ev.V != audit.SchemaVersion || ev.ID == "" || ev.InstanceID != env.stack.AuditInstance || ev.Time.IsZero() ||
			ev.DecisionID == "" || ev.Agent != "trade-executor" || ev.Tenant != "northwind" || ev.Server != "trading" ||
			ev.Method != "tools/call" || ev.RequestID == "" || !strings.HasPrefix(ev.CallHash, "sha-256:") ||
			ev.RegistryVersion == "" || ev.PolicyRevision == "" || ev.InputHash == "" || ev.Issuer == "" {
			t.Errorf("decision event lacks documented fields: %+v", ev)
		}
		if ev.Seq > 0 && ev.PrevHash == "" {
			t.Errorf("event %d has no prevHash", ev.Seq)
		}
		if len(ev.Arguments) != 0 {
			t.Errorf("arguments recorded although recordArguments is off: %s", ev.Arguments)
		}
	}
	if len(denied.PolicyReasons) == 0 {
		t.Errorf("policy denial without the policy's reasons: %+v", denied)
	}
	out := byDecision(evs, allowed.DecisionID, audit.KindOutcome)
	if out.CallHash != allowed.CallHash || out.OutputHash == "" || out.LatencyMicros <= 0 || out.ErrorType != "" {
		t.Errorf("outcome event %+v does not match decision %+v", out, allowed)
	}

	// Replay the allowed decision from the content store (inputs are
	// written off the decision path: poll for ours).
	store, err := contentstore.Open(env.stack.AuditStore, contentstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, err := store.LoadInput(allowed.InputHash); err != nil; _, err = store.LoadInput(allowed.InputHash) {
		if time.Now().After(deadline) {
			t.Fatalf("input %s never stored: %v", allowed.InputHash, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ev := range []*audit.Event{allowed, denied} {
		rep, err := replay.Replay(context.Background(), *ev, store)
		if err != nil || !rep.Match {
			b, _ := json.MarshalIndent(rep, "", "  ")
			t.Fatalf("replay of %s: %v\n%s", ev.Reason, err, b)
		}
	}

	// The log as shipped verifies against the instance's key once a
	// checkpoint covers it (checkpoints every second in the stack).
	key, err := os.ReadFile(env.stack.AuditKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	verifiers, err := audit.ParseVerifiers(key)
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		entries, err := audit.ReadEvents(context.Background(), env.stack.Kafka.Brokers, audit.DefaultTopic)
		if err != nil {
			t.Fatal(err)
		}
		cps, err := audit.ReadCheckpoints(context.Background(), env.stack.Kafka.Brokers, audit.DefaultCheckpointTopic)
		if err != nil {
			t.Fatal(err)
		}
		rep := audit.Verify(entries, cps, verifiers)
		if rep.OK() && len(rep.Warnings) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(rep, "", "  ")
			t.Fatalf("audit verify of the live log:\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
