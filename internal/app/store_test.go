package app

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
)

// TestAsyncInputs_RendersEachInputOncePerSecond: a repeated call within
// its second gets the same address without a second document; another
// second, or other arguments, render and queue again. Addresses are the
// content store's.
func TestAsyncInputs_RendersEachInputOncePerSecond(t *testing.T) {
	st, err := contentstore.Open(t.TempDir(), contentstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ai := newAsyncInputs(st, 16, nil)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	in := func(sec int, args string) *policy.Input {
		return &policy.Input{Principal: principal.Principal{User: "u", Agent: "a"}, Time: t0.Add(time.Duration(sec) * time.Second),
			Call: policy.Call{Method: "tools/call", Arguments: json.RawMessage(args)}, RegistryVersion: "v1"}
	}
	record := func(i *policy.Input) string {
		t.Helper()
		addr, err := ai.RecordInput(i)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := i.JSON()
		if want, _ := contentstore.InputAddress(doc); addr != want {
			t.Fatalf("address %s, want the store's %s", addr, want)
		}
		return addr
	}
	a := record(in(0, `{"n":1}`))
	if b := record(in(0, `{"n":1}`)); b != a || len(ai.queue) != 1 {
		t.Fatalf("repeat in the same second: %s vs %s, %d queued", b, a, len(ai.queue))
	}
	if c := record(in(1, `{"n":1}`)); c == a || len(ai.queue) != 2 {
		t.Fatalf("next second: same address or nothing queued (%d)", len(ai.queue))
	}
	if record(in(1, `{"n":2}`)); len(ai.queue) != 3 {
		t.Fatalf("other arguments not queued (%d)", len(ai.queue))
	}
}
