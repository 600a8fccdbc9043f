package extauthz

import (
	"strings"
	"testing"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/registry"
)

func testRegistry() *registry.Registry {
	return registry.New(registry.Version{ContentHash: "sha256:abcd"}, []registry.Server{{
		ID: "ehr", Upstream: "http://127.0.0.1:9101/mcp",
		Tools: []registry.Tool{{Name: "read_chart"}, {Name: "write_summary"}},
	}}, nil, nil)
}

func TestDecide(t *testing.T) {
	call := func(tool string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	}
	tests := []struct {
		name       string
		in         Input
		outcome    decision.Outcome
		reason     decision.Reason
		tool, id   string
		detailPart string
	}{
		{"registered tool", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(call("read_chart"))},
			decision.Allow, decision.ReasonAllowed, "read_chart", "7", ""},
		{"tools/list", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(`{"jsonrpc":"2.0","id":"a","method":"tools/list"}`)},
			decision.Allow, decision.ReasonAllowed, "", `"a"`, ""},
		{"notification", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)},
			decision.Allow, decision.ReasonAllowed, "", "", ""},
		{"GET stream", Input{ServerID: "ehr", HTTPMethod: "GET"}, decision.Allow, decision.ReasonAllowed, "", "", ""},
		{"unregistered tool", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(call("drop_tables"))},
			decision.Deny, decision.ReasonUnknownTool, "drop_tables", "7", `"drop_tables" is not registered`},
		{"unregistered server", Input{ServerID: "shadow", HTTPMethod: "POST", Body: []byte(call("read_chart"))},
			decision.Deny, decision.ReasonUnknownServer, "", "", `"shadow"`},
		{"no server on route", Input{HTTPMethod: "POST", Body: []byte(call("read_chart"))},
			decision.Deny, decision.ReasonUnknownServer, "", "", "not registered"},
		{"PUT", Input{ServerID: "ehr", HTTPMethod: "PUT"}, decision.Deny, decision.ReasonMethodNotAllowed, "", "", "PUT"},
		{"duplicate tool name smuggled", Input{ServerID: "ehr", HTTPMethod: "POST",
			Body: []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_chart","name":"drop_tables"}}`)},
			decision.Deny, decision.ReasonMalformed, "", "", "duplicate_key"},
		{"case variant", Input{ServerID: "ehr", HTTPMethod: "POST",
			Body: []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_chart","Name":"drop_tables"}}`)},
			decision.Deny, decision.ReasonMalformed, "", "", "case variant"},
		{"batch", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(`[` + call("read_chart") + `]`)},
			decision.Deny, decision.ReasonMalformed, "", "", "batch"},
		{"truncated by envoy", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(call("read_chart")), BodyPartial: true},
			decision.Deny, decision.ReasonMalformed, "", "", "truncated"},
		{"over the limit", Input{ServerID: "ehr", HTTPMethod: "POST", Body: []byte(call("read_chart")), MaxBodyBytes: 10},
			decision.Deny, decision.ReasonMalformed, "", "", "limit"},
		{"empty body", Input{ServerID: "ehr", HTTPMethod: "POST"}, decision.Deny, decision.ReasonMalformed, "", "", "no body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.in.Registry = testRegistry()
			tc.in.DecisionID = "d1"
			got := Decide(tc.in)
			d := got.Decision
			if d.Outcome != tc.outcome || d.Reason != tc.reason || d.Tool != tc.tool || string(got.RequestID) != tc.id {
				t.Fatalf("Decide = %+v id %s; want %s/%s tool %q id %s", d, got.RequestID, tc.outcome, tc.reason, tc.tool, tc.id)
			}
			if d.ID != "d1" || d.RegistryVersion != "sha256:abcd" {
				t.Errorf("decision id %q registry version %q not recorded", d.ID, d.RegistryVersion)
			}
			if !strings.Contains(d.Detail, tc.detailPart) {
				t.Errorf("detail %q does not mention %q", d.Detail, tc.detailPart)
			}
		})
	}
}

func TestDecide_NoRegistryDenies(t *testing.T) {
	got := Decide(Input{ServerID: "ehr", HTTPMethod: "GET"})
	if got.Decision.Allowed() || got.Decision.Reason != decision.ReasonInternal {
		t.Fatalf("Decide without a registry = %+v, want internal_error deny", got.Decision)
	}
}

func BenchmarkDecide_ToolCall(b *testing.B) {
	in := Input{DecisionID: "d", Registry: testRegistry(), ServerID: "ehr", HTTPMethod: "POST",
		Body: []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p-1001"}}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if !Decide(in).Decision.Allowed() {
			b.Fatal("denied")
		}
	}
}
