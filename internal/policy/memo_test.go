package policy

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// TestMemo: a memoized result equals a fresh evaluation for every input it
// is returned for, and inputs that differ in any rendered field do not
// share a result.
func TestMemo(t *testing.T) {
	ctx := context.Background()
	e, err := Compile(ctx, EmbeddedDefault())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load("../../examples/registry")
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := reg.Agent("trade-executor")
	srv, _ := reg.Server("trading")
	tool, _ := srv.Tool("place_trade")
	base := Input{
		Principal: principal.Principal{User: "trader-bob", Agent: "trade-executor", Tenant: "northwind"},
		Agent:     agent, Server: srv, Tool: tool, RegistryVersion: reg.Version.String(),
		Call: Call{Method: "tools/call", Arguments: json.RawMessage(`{"symbol":"ACME","side":"buy","quantity":10,"account":"A"}`)},
		Time: time.Date(2026, 11, 26, 10, 0, 0, 100, time.UTC),
	}
	big := base
	big.Call.Arguments = json.RawMessage(`{"symbol":"ACME","side":"buy","quantity":100000,"account":"A"}`)
	m := NewMemo(e)
	for i, in := range []Input{base, big, base, big} {
		got, err := m.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		in.Time = in.Time.Truncate(time.Second)
		want, err := e.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Allow != want.Allow || got.ApprovalRequired != want.ApprovalRequired || len(got.Reasons) != len(want.Reasons) {
			t.Fatalf("input %d: memo %+v, engine %+v", i, got, want)
		}
	}
	if k1, k2 := memoKey(base), memoKey(big); k1 == k2 {
		t.Fatal("different arguments share a memo key")
	}
	other := base
	other.Principal.Groups = []string{"desk"}
	if memoKey(other) == memoKey(base) {
		t.Fatal("different groups share a memo key")
	}
}

func BenchmarkMemo_Hit(b *testing.B) {
	e, err := Compile(context.Background(), EmbeddedDefault())
	if err != nil {
		b.Fatal(err)
	}
	m := NewMemo(e)
	in := Input{Principal: principal.Principal{User: "u", Agent: "a", Tenant: "t"},
		Call: Call{Method: "tools/call", Arguments: json.RawMessage(`{"symbol":"ACME"}`)}, Time: time.Now()}
	_, _ = m.Evaluate(context.Background(), in)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = m.Evaluate(context.Background(), in)
	}
}
