package extauthz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// The registry and policy are the real shipped ones; only the two network
// collaborators (token verification and SpiceDB) are table-driven stand-ins
// here. e2e runs the same decisions against the real IdP and SpiceDB.
func exampleRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.Load("../examples/registry")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func defaultPolicy(t testing.TB) *policy.Engine {
	t.Helper()
	e, err := policy.Compile(context.Background(), policy.EmbeddedDefault())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// tokens maps a bearer token to who it proves, or to a verification error.
type tokens map[string]any

func (tk tokens) Verify(_ context.Context, raw string) (principal.Principal, error) {
	switch v := tk[raw].(type) {
	case principal.Principal:
		return v, nil
	case error:
		return principal.Principal{}, v
	}
	return principal.Principal{}, identity.ErrMissing
}

// grants answers CheckInvoke from "user|agent|tenant|server/tool" keys.
type grants map[string]bool

func (g grants) CheckInvoke(_ context.Context, p principal.Principal, server, tool string) (bool, error) {
	if g == nil {
		return false, errors.New("spicedb unreachable")
	}
	return g[p.User+"|"+p.Agent+"|"+p.Tenant+"|"+server+"/"+tool], nil
}

var (
	alice   = principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}
	bob     = principal.Principal{User: "trader-bob", Agent: "trade-executor", Tenant: "northwind"}
	mallory = principal.Principal{User: "mallory", Agent: "note-summarizer", Tenant: "st-marys"}
)

func post(body string, headers ...string) mcp.HTTPRequest {
	h := map[string]string{"content-type": "application/json", "mcp-protocol-version": "2025-06-18"}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return mcp.HTTPRequest{Method: "POST", Headers: h, Body: []byte(body)}
}

func call(tool, args string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
}

func TestDecide(t *testing.T) {
	reg, pol := exampleRegistry(t), defaultPolicy(t)
	schemas, err := CompileSchemas(reg)
	if err != nil {
		t.Fatal(err)
	}
	tk := tokens{
		"alice": alice, "bob": bob, "mallory": mallory,
		"alice-northwind": principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "northwind"},
		"alice-via-inbox": principal.Principal{User: "dr-alice", Agent: "inbox-assistant", Tenant: "st-marys", Groups: []string{"staff"}},
		"rogue":           principal.Principal{User: "dr-alice", Agent: "rogue-agent", Tenant: "st-marys"},
		"staff":           principal.Principal{User: "staff-member", Agent: "inbox-assistant", Tenant: "st-marys", Groups: []string{"staff"}},
		"expired":         identity.ErrExpired,
		"keys-down":       identity.ErrUnavailable,
	}
	g := grants{
		"dr-alice|note-summarizer|st-marys|ehr/read_chart":        true,
		"dr-alice|note-summarizer|st-marys|ehr/write_summary":     true,
		"trader-bob|trade-executor|northwind|trading/get_quote":   true,
		"trader-bob|trade-executor|northwind|trading/place_trade": true,
		"staff-member|inbox-assistant|st-marys|mail/read_inbox":   true,
	}
	tests := []struct {
		name, server, token string
		req                 mcp.HTTPRequest
		authz               Authorizer
		reason              decision.Reason
		outcome             decision.Outcome
	}{
		{"allowed read", "ehr", "alice", post(call("read_chart", `{"patient_id":"p-1"}`)), g, decision.ReasonAllowed, decision.Allow},
		{"tools/list", "ehr", "alice", post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), g, decision.ReasonAllowed, decision.Allow},
		{"GET stream", "ehr", "alice", mcp.HTTPRequest{Method: "GET"}, g, decision.ReasonAllowed, decision.Allow},
		{"no token", "ehr", "", post(call("read_chart", `{}`)), g, decision.ReasonUnauthenticated, decision.Deny},
		{"expired token", "ehr", "expired", post(call("read_chart", `{}`)), g, decision.ReasonUnauthenticated, decision.Deny},
		{"IdP keys unreachable", "ehr", "keys-down", post(call("read_chart", `{}`)), g, decision.ReasonInternal, decision.Deny},
		{"unknown server", "shadow", "alice", post(call("read_chart", `{}`)), g, decision.ReasonUnknownServer, decision.Deny},
		{"malformed", "ehr", "alice", post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_chart","name":"write_summary"}}`), g, decision.ReasonMalformed, decision.Deny},
		{"header smuggle", "ehr", "alice", post(call("write_summary", `{}`), "mcp-method", "tools/call", "mcp-name", "read_chart"), g, decision.ReasonHeaderMismatch, decision.Deny},
		{"PUT", "ehr", "alice", mcp.HTTPRequest{Method: "PUT"}, g, decision.ReasonMethodNotAllowed, decision.Deny},
		{"unregistered agent", "ehr", "rogue", post(call("read_chart", `{}`)), g, decision.ReasonUnknownAgent, decision.Deny},
		{"cross-tenant", "ehr", "alice-northwind", post(call("read_chart", `{}`)), g, decision.ReasonTenantMismatch, decision.Deny},
		{"user not approved", "ehr", "mallory", post(call("read_chart", `{}`)), g, decision.ReasonUserNotApproved, decision.Deny},
		{"agent lacks the tool", "ehr", "alice-via-inbox", post(call("read_chart", `{}`)), g, decision.ReasonOutOfScope, decision.Deny},
		{"group approval", "mail", "staff", post(call("read_inbox", `{}`)), g, decision.ReasonAllowed, decision.Allow},
		{"unregistered tool", "ehr", "alice", post(call("export_all", `{}`)), g, decision.ReasonUnknownTool, decision.Deny},
		{"spicedb says no", "ehr", "alice", post(call("read_chart", `{"patient_id":"p-1"}`)), grants{}, decision.ReasonNotPermitted, decision.Deny},
		{"spicedb down", "ehr", "alice", post(call("read_chart", `{"patient_id":"p-1"}`)), grants(nil), decision.ReasonInternal, decision.Deny},
		{"tier 1 write needs approval", "ehr", "alice", post(call("write_summary", `{"patient_id":"p-1","summary":"ok"}`)), g, decision.ReasonApprovalRequired, decision.ApprovalRequired},
		{"small trade", "trading", "bob", post(call("place_trade", `{"symbol":"ACME","side":"buy","quantity":10,"account":"ACC-1"}`)), g, decision.ReasonAllowed, decision.Allow},
		{"large trade", "trading", "bob", post(call("place_trade", `{"symbol":"ACME","side":"buy","quantity":100000,"account":"ACC-1"}`)), g, decision.ReasonApprovalRequired, decision.ApprovalRequired},
		{"argument violates the pinned schema", "trading", "bob", post(call("place_trade", `{"symbol":"ACME","side":"hold","quantity":10,"account":"ACC-1"}`)), g, decision.ReasonInvalidArguments, decision.Deny},
		{"undeclared extra argument", "ehr", "alice", post(call("read_chart", `{"patient_id":"p-1","bcc":"attacker@evil.example"}`)), g, decision.ReasonInvalidArguments, decision.Deny},
		{"missing required argument", "ehr", "alice", post(call("read_chart", `{}`)), g, decision.ReasonInvalidArguments, decision.Deny},
		{"restricted instrument", "trading", "bob", post(call("place_trade", `{"symbol":"RSTR","side":"buy","quantity":1,"account":"ACC-1"}`)), g, decision.ReasonPolicyDenied, decision.Deny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := Input{DecisionID: "d1", Registry: reg, Schemas: schemas, ServerID: tc.server, Request: tc.req, Bearer: tc.token,
				Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), MaxBodyBytes: 1 << 20}
			got := Decide(context.Background(), in, Deps{Auth: tk, Authz: tc.authz, Policy: pol})
			d := got.Decision
			if d.Reason != tc.reason || d.Outcome != tc.outcome {
				t.Fatalf("Decide = %s/%s (%s); want %s/%s", d.Outcome, d.Reason, d.Detail, tc.outcome, tc.reason)
			}
			if d.ID != "d1" || d.RegistryVersion == "" {
				t.Errorf("decision id %q registry version %q not recorded", d.ID, d.RegistryVersion)
			}
			if tc.reason == decision.ReasonAllowed && d.Method == "tools/call" && d.PolicyRevision != pol.Revision() {
				t.Errorf("policy revision %q not recorded", d.PolicyRevision)
			}
			if tc.reason == decision.ReasonInvalidArguments && !strings.Contains(d.Detail, "arguments") {
				t.Errorf("detail %q must name the failing field", d.Detail)
			}
			if strings.Contains(d.Detail, tc.token) && tc.token != "" && len(tc.token) > 8 {
				t.Errorf("detail %q repeats the token", d.Detail)
			}
		})
	}
}

func TestDecide_NotReadyDenies(t *testing.T) {
	got := Decide(context.Background(), Input{ServerID: "ehr", Request: mcp.HTTPRequest{Method: "GET"}}, Deps{})
	if got.Decision.Allowed() || got.Decision.Reason != decision.ReasonInternal {
		t.Fatalf("Decide without registry and verifier = %+v, want internal_error deny", got.Decision)
	}
}

func BenchmarkDecide_ToolCall(b *testing.B) {
	reg, pol := exampleRegistry(b), defaultPolicy(b)
	deps := Deps{Auth: tokens{"bob": bob}, Authz: grants{"trader-bob|trade-executor|northwind|trading/get_quote": true}, Policy: pol}
	schemas, _ := CompileSchemas(reg)
	in := Input{DecisionID: "d", Registry: reg, Schemas: schemas, ServerID: "trading", Bearer: "bob", MaxBodyBytes: 1 << 20,
		Now:     time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Request: post(call("get_quote", `{"symbol":"ACME"}`))}
	b.ReportAllocs()
	for b.Loop() {
		if !Decide(context.Background(), in, deps).Decision.Allowed() {
			b.Fatal("denied")
		}
	}
}

// BenchmarkDecide_CacheHit is the steady state of an agent repeating a
// call: token cache hit (here: a map), SpiceDB answer cache (a map), and
// the policy result memoized for the second.
func BenchmarkDecide_CacheHit(b *testing.B) {
	reg := exampleRegistry(b)
	deps := Deps{Auth: tokens{"bob": bob}, Authz: grants{"trader-bob|trade-executor|northwind|trading/get_quote": true},
		Policy: policy.NewMemo(defaultPolicy(b))}
	schemas, _ := CompileSchemas(reg)
	in := Input{DecisionID: "d", Registry: reg, Schemas: schemas, ServerID: "trading", Bearer: "bob", MaxBodyBytes: 1 << 20,
		Now:     time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Request: post(call("get_quote", `{"symbol":"ACME"}`))}
	b.ReportAllocs()
	for b.Loop() {
		if !Decide(context.Background(), in, deps).Decision.Allowed() {
			b.Fatal("denied")
		}
	}
}

// driftView answers Advertised from a map; a nil map is a view that
// cannot refresh.
type driftView map[string]string

func (v driftView) Advertised(server, tool string) (string, bool, error) {
	if v == nil {
		return "", false, errors.New("stale")
	}
	h, ok := v[server+"/"+tool]
	return h, ok, nil
}

func TestDecide_ToolDefinitionDrift(t *testing.T) {
	reg := exampleRegistry(t)
	schemas, err := CompileSchemas(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := reg.Server("trading")
	quote, _ := srv.Tool("get_quote")
	pin := quote.DefinitionHash()
	deps := Deps{Auth: tokens{"bob": bob}, Authz: grants{"trader-bob|trade-executor|northwind|trading/get_quote": true}, Policy: defaultPolicy(t)}
	tests := []struct {
		name   string
		view   driftView
		reason decision.Reason
	}{
		{"never listed", driftView{}, decision.ReasonAllowed},
		{"advertised as pinned", driftView{"trading/get_quote": pin}, decision.ReasonAllowed},
		{"other tool drifted", driftView{"trading/get_quote": pin, "trading/place_trade": "sha256:other"}, decision.ReasonAllowed},
		{"rug pull", driftView{"trading/get_quote": "sha256:changed"}, decision.ReasonToolDefinitionChanged},
		{"observations unavailable", nil, decision.ReasonInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deps := deps
			deps.Drift = tc.view
			in := Input{DecisionID: "d1", Registry: reg, Schemas: schemas, ServerID: "trading", Bearer: "bob", MaxBodyBytes: 1 << 20,
				Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Request: post(call("get_quote", `{"symbol":"ACME"}`))}
			d := Decide(context.Background(), in, deps).Decision
			if d.Reason != tc.reason {
				t.Fatalf("reason %s (%s), want %s", d.Reason, d.Detail, tc.reason)
			}
			if tc.reason == decision.ReasonToolDefinitionChanged {
				if d.Drift == nil || d.Drift.Pinned != pin || d.Drift.Advertised != "sha256:changed" {
					t.Errorf("drift %+v does not carry both hashes", d.Drift)
				}
				if !strings.Contains(d.Detail, pin) || !strings.Contains(d.Detail, "sha256:changed") {
					t.Errorf("detail %q does not name both hashes", d.Detail)
				}
			}
		})
	}
}

// revokedSet answers Revocations from sets of "user:x", "agent:x", "session:x".
type revokedSet map[string]bool

func (r revokedSet) UserRevoked(u string) bool    { return r["user:"+u] }
func (r revokedSet) AgentRevoked(a string) bool   { return r["agent:"+a] }
func (r revokedSet) SessionRevoked(s string) bool { return r["session:"+s] }

func TestDecide_Revoked(t *testing.T) {
	reg := exampleRegistry(t)
	schemas, _ := CompileSchemas(reg)
	g := grants{"trader-bob|trade-executor|northwind|trading/get_quote": true}
	tests := []struct {
		name    string
		set     revokedSet
		session string
		reason  decision.Reason
	}{
		{"nobody revoked", revokedSet{}, "", decision.ReasonAllowed},
		{"someone else revoked", revokedSet{"user:dr-alice": true, "agent:note-summarizer": true}, "", decision.ReasonAllowed},
		{"user revoked", revokedSet{"user:trader-bob": true}, "", decision.ReasonRevoked},
		{"agent revoked", revokedSet{"agent:trade-executor": true}, "", decision.ReasonRevoked},
		{"session revoked", revokedSet{"session:s-9": true}, "s-9", decision.ReasonRevoked},
		{"other session", revokedSet{"session:s-9": true}, "s-10", decision.ReasonAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := post(call("get_quote", `{"symbol":"ACME"}`))
			if tc.session != "" {
				req.Headers["mcp-session-id"] = tc.session
			}
			in := Input{DecisionID: "d1", Registry: reg, Schemas: schemas, ServerID: "trading", Bearer: "bob", MaxBodyBytes: 1 << 20,
				Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Request: req}
			d := Decide(context.Background(), in, Deps{Auth: tokens{"bob": bob}, Authz: g, Policy: defaultPolicy(t), Revoked: tc.set}).Decision
			if d.Reason != tc.reason {
				t.Fatalf("reason %s (%s), want %s", d.Reason, d.Detail, tc.reason)
			}
		})
	}
}
