package drill

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/registry"
)

func TestSampleArguments(t *testing.T) {
	tests := []struct{ schema, want string }{
		{`{"type":"object","properties":{"symbol":{"type":"string","pattern":"^[A-Z]+$"}},"required":["symbol"]}`, `{"symbol":"A"}`},
		{`{"type":"object","properties":{"side":{"type":"string","enum":["buy","sell"]},"n":{"type":"integer","minimum":5}},"required":["side","n"]}`, `{"n":5,"side":"buy"}`},
		{`{"type":"object","properties":{"id":{"type":"string","minLength":3},"opt":{"type":"string"}},"required":["id"]}`, `{"id":"AAA"}`},
		{`{"type":"object","properties":{}}`, `{}`},
	}
	for _, tc := range tests {
		got, err := sampleArguments(json.RawMessage(tc.schema))
		if err != nil || string(got) != tc.want {
			t.Errorf("sampleArguments(%s) = %s, %v; want %s", tc.schema, got, err, tc.want)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, "ok"},
		{"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n", "ok"},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":-31001,"message":"Access revoked","data":{"reason":"revoked"}}}`, "revoked"},
		{`{"jsonrpc":"2.0","id":1,"result":{"isError":true}}`, "error: tool error"},
		{`<html>`, "error: unreadable answer"},
	}
	for _, tc := range tests {
		if got := outcomeOf([]byte(tc.body)); got != tc.want {
			t.Errorf("outcomeOf(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestJudge: the report fails on each way the drill can miss its target.
func TestJudge(t *testing.T) {
	good := Report{DeniedAfter: 10, FirstDenied: 30 * time.Millisecond, StreamEnded: 200 * time.Millisecond,
		Others: []OtherReport{{User: "bob", Calls: 50}}}
	tests := []struct {
		name string
		edit func(*Report)
		pass bool
	}{
		{"within target", func(*Report) {}, true},
		{"no stream to end", func(r *Report) { r.StreamEnded = -1 }, true},
		{"never refused", func(r *Report) { r.DeniedAfter = 0 }, false},
		{"refused too late", func(r *Report) { r.FirstDenied = 2 * time.Second }, false},
		{"allowed after confirmation", func(r *Report) { r.AllowedAfterConfirm = 1 }, false},
		{"stream outlived the target", func(r *Report) { r.StreamEnded = 3 * time.Second }, false},
		{"a replica did not confirm", func(r *Report) { r.Missing = []string{"gw-2"} }, false},
		{"someone else saw an error", func(r *Report) { r.Others[0].Errors = 1 }, false},
	}
	for _, tc := range tests {
		r := good
		r.Others = append([]OtherReport(nil), good.Others...)
		tc.edit(&r)
		r.judge()
		if r.Pass != tc.pass {
			t.Errorf("%s: pass=%v (%v)", tc.name, r.Pass, r.Problems)
		}
	}
}

func TestPickSkipsBrokeredServers(t *testing.T) {
	reg, err := registry.Load(filepath.Join("..", "..", "examples", "registry"))
	if err != nil {
		t.Fatal(err)
	}
	ag, srv, tool, ok := pick(reg, "trader-bob")
	if !ok || ag.ID != "trade-executor" || srv.ID != "trading" || tool.Annotations.ReadOnlyHint == nil || !*tool.Annotations.ReadOnlyHint {
		t.Fatalf("pick(trader-bob) = %v %v %v %v", ag, srv, tool, ok)
	}
	if others := otherUsers(reg, "trader-bob", 2); len(others) == 0 {
		t.Fatal("no other user found in the example registry")
	}
}
