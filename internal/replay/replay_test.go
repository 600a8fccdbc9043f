package replay

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

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// gateway decides the way extauthz's policy step does, with the real
// default policy (or a modified bundle), recording into a real store.
type gateway struct {
	store *contentstore.Store
	reg   *registry.Registry
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	s, err := contentstore.Open(t.TempDir(), contentstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load("../../examples/registry")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRegistry(reg); err != nil {
		t.Fatal(err)
	}
	return &gateway{store: s, reg: reg}
}

// engine compiles and records the bundle in dir.
func (g *gateway) engine(t *testing.T, dir string) *policy.Engine {
	t.Helper()
	b, err := policy.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.store.RecordBundle(b); err != nil {
		t.Fatal(err)
	}
	return e
}

type call struct {
	agent, user, tenant, server, tool, args string
}

var (
	trade = func(args string) call {
		return call{"trade-executor", "trader-bob", "northwind", "trading", "place_trade", args}
	}
	readChart = call{"note-summarizer", "dr-alice", "st-marys", "ehr", "read_chart", `{"patient_id":"p-1"}`}
)

// decide is extauthz's evaluatePolicy followed by its recordDecision.
func (g *gateway) decide(t *testing.T, pol *policy.Engine, c call) audit.Event {
	t.Helper()
	p := principal.Principal{Issuer: "https://idp.example", User: c.user, Agent: c.agent, Tenant: c.tenant, Task: "task-7",
		Groups: []string{"desk-eq"}, Chain: []principal.Actor{{Subject: c.agent, Issuer: "https://idp.example"}}}
	srv, _ := g.reg.Server(c.server)
	tool, _ := srv.Tool(c.tool)
	agent, _ := g.reg.Agent(c.agent)
	at := time.Date(2026, 3, 10, 3, 14, 0, 123456789, time.UTC)
	d := decision.Decision{ID: "dec-" + c.tool, RegistryVersion: g.reg.Version.String(), PolicyRevision: pol.Revision(),
		Server: c.server, Method: "tools/call", Tool: c.tool, Principal: p}
	in := policy.Input{Principal: p, Agent: agent, Server: srv, Tool: tool,
		Call: policy.Call{Method: "tools/call", Arguments: json.RawMessage(c.args)}, Time: at, RegistryVersion: d.RegistryVersion}
	res, err := pol.Evaluate(context.Background(), in)
	switch {
	case err != nil:
		d.Outcome, d.Reason = decision.Deny, decision.ReasonInternal
	case res.Allow:
		d.Outcome, d.Reason = decision.Allow, decision.ReasonAllowed
	case res.ApprovalRequired:
		d.Outcome, d.Reason = decision.ApprovalRequired, decision.ReasonApprovalRequired
	default:
		d.Outcome, d.Reason = decision.Deny, decision.ReasonPolicyDenied
	}
	if err == nil {
		d.PolicyReasons = res.Reasons
	}
	ev, ferr := audit.FromDecision(d, audit.Extras{Time: at.Add(80 * time.Microsecond), Arguments: json.RawMessage(c.args),
		InputHash: g.recordInput(t, in)})
	if ferr != nil {
		t.Fatal(ferr)
	}
	ev.InstanceID, ev.Seq = "gw-test", 41
	return ev
}

// recordInput is what extauthz's recordDecision does with the policy input.
func (g *gateway) recordInput(t *testing.T, in policy.Input) string {
	t.Helper()
	doc, err := in.JSON()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := g.store.RecordInput(doc)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// bundle copies the default policy and edits its data.json.
func bundle(t *testing.T, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../policy")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "actiongate", "data.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("data.json lacks %q", old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReplay_Decisions(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	def := g.engine(t, "../../policy")
	// The same bundle with a limit of 1,000,000.00 USD instead of 10,000.00.
	raised := g.engine(t, bundle(t, `"notional_limit_cents": 1000000`, `"notional_limit_cents": 100000000`))
	if raised.Revision() == def.Revision() {
		t.Fatal("the edited bundle has the default revision")
	}
	bigTrade := trade(`{"symbol":"ACME","side":"buy","quantity":100,"account":"ACC-7"}`) // 33,623.00 USD

	tests := []struct {
		name    string
		ev      audit.Event
		edit    func(*audit.Event)
		status  Status
		outcome string
		reasons string
		wantErr error
	}{
		{name: "read-only allow", ev: g.decide(t, def, readChart),
			status: StatusMatch, outcome: "allow", reasons: "allow:read_only"},
		{name: "restricted instrument deny", ev: g.decide(t, def, trade(`{"symbol":"RSTR","side":"buy","quantity":1,"account":"ACC-7"}`)),
			status: StatusMatch, outcome: "deny", reasons: "restricted_instrument"},
		{name: "over the limit needs approval", ev: g.decide(t, def, bigTrade),
			status: StatusMatch, outcome: "approval_required", reasons: "approval_required:trade_over_limit"},
		{name: "modified bundle allows what the default does not", ev: g.decide(t, raised, bigTrade),
			status: StatusMatch, outcome: "allow", reasons: "allow:trade_within_limit"},
		{name: "event claims the default revision for the modified bundle's decision", ev: g.decide(t, raised, bigTrade),
			edit:   func(ev *audit.Event) { ev.PolicyRevision = def.Revision() },
			status: StatusMismatch, outcome: "approval_required", wantErr: ErrMismatch},
		{name: "outcome rewritten after the fact", ev: g.decide(t, def, bigTrade),
			edit:   func(ev *audit.Event) { ev.Outcome, ev.Reason = "allow", "allowed" },
			status: StatusMismatch, outcome: "approval_required", wantErr: ErrMismatch},
		{name: "policy reasons rewritten", ev: g.decide(t, def, readChart),
			edit:   func(ev *audit.Event) { ev.PolicyReasons = []string{"allow:within_tier_autonomy"} },
			status: StatusMismatch, outcome: "allow", wantErr: ErrMismatch},
		{name: "rate limited after an allow", ev: g.decide(t, def, readChart),
			edit:   func(ev *audit.Event) { ev.Outcome, ev.Reason = "deny", string(decision.ReasonRateLimited) },
			status: StatusMatch, outcome: "deny", reasons: "allow:read_only"},
		{name: "rate limited although policy asked for approval", ev: g.decide(t, def, bigTrade),
			edit:   func(ev *audit.Event) { ev.Outcome, ev.Reason = "deny", string(decision.ReasonRateLimited) },
			status: StatusMismatch, outcome: "approval_required", wantErr: ErrMismatch},
		{name: "decided before policy", ev: audit.Event{V: 1, ID: "e-1", Kind: audit.KindDecision, DecisionID: "dec-x",
			Outcome: "deny", Reason: string(decision.ReasonUnknownTool), RegistryVersion: g.reg.Version.String()},
			status: StatusBeforePolicy, outcome: "deny"},
		{name: "policy step without input hash", ev: g.decide(t, def, readChart),
			edit: func(ev *audit.Event) { ev.InputHash = "" }, wantErr: ErrNoInput},
		{name: "input of another user", ev: g.decide(t, def, readChart),
			edit: func(ev *audit.Event) { ev.User = "dr-mallory" }, wantErr: ErrInconsistent},
		{name: "arguments differ from the call hash", ev: g.decide(t, def, readChart),
			edit: func(ev *audit.Event) {
				ev.CallHash, _ = audit.CallHash(audit.CallInput{Server: "ehr", Tool: "read_chart",
					Arguments: json.RawMessage(`{"patient_id":"p-2"}`), User: ev.User, Agent: ev.Agent, Tenant: ev.Tenant, Task: ev.Task})
			}, wantErr: ErrInconsistent},
		{name: "policy not in the store", ev: g.decide(t, def, readChart),
			edit: func(ev *audit.Event) { ev.PolicyRevision = "sha256:" + strings.Repeat("0", 64) }, wantErr: contentstore.ErrNotFound},
		{name: "outcome event", ev: g.decide(t, def, readChart),
			edit: func(ev *audit.Event) { ev.Kind = audit.KindOutcome }, wantErr: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := tc.ev
			if tc.edit != nil {
				tc.edit(&ev)
			}
			r, err := Replay(context.Background(), ev, g.store)
			switch {
			case tc.wantErr == errAny && err == nil, tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case err != nil:
				t.Logf("error: %v", err)
			}
			if tc.status != "" && r.Status != tc.status {
				t.Fatalf("status %s, want %s (%+v)", r.Status, tc.status, r)
			}
			if r.Match != (tc.status == StatusMatch || tc.status == StatusBeforePolicy) || r.Match != (err == nil) {
				t.Errorf("match %v with status %s and error %v", r.Match, r.Status, err)
			}
			if tc.status == StatusMatch || tc.status == StatusMismatch {
				if r.Replayed == nil || r.Replayed.Outcome != tc.outcome && r.Replayed.Carried == "" {
					t.Fatalf("replayed %+v, want outcome %s", r.Replayed, tc.outcome)
				}
			}
			if tc.reasons != "" && strings.Join(r.Replayed.PolicyReasons, ",") != tc.reasons {
				t.Errorf("replayed reasons %v, want %s", r.Replayed.PolicyReasons, tc.reasons)
			}
			if tc.status == StatusBeforePolicy && !strings.Contains(r.Note, "decided before policy: reason unknown_tool; nothing to replay") {
				t.Errorf("note %q", r.Note)
			}
		})
	}
}

// errAny stands for "some error" in the table.
var errAny = errors.New("any error")

func TestReplay_RateLimitedCarriesTheLaterStep(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	def := g.engine(t, "../../policy")
	ev := g.decide(t, def, readChart)
	ev.Outcome, ev.Reason = "deny", string(decision.ReasonRateLimited)
	r, err := Replay(context.Background(), ev, g.store)
	if err != nil || r.Replayed.Outcome != "deny" || r.Replayed.Reason != "rate_limited" ||
		!strings.Contains(r.Replayed.Carried, "policy answered allow") {
		t.Fatalf("%+v, %v", r.Replayed, err)
	}
	var names []string
	for _, c := range r.Checks {
		if c.Result != "ok" {
			t.Errorf("check %+v", c)
		}
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"input", "event", "call hash", "registry", "policy"}) {
		t.Errorf("checks %v", names)
	}
}

func TestReplay_TamperedStore(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	def := g.engine(t, "../../policy")
	ev := g.decide(t, def, trade(`{"symbol":"RSTR","side":"buy","quantity":1,"account":"ACC-7"}`))
	hexPart := strings.TrimPrefix(ev.InputHash, "sha256:")
	path := filepath.Join(g.store.Dir(), "input", hexPart[:2], hexPart+".json")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Make the restricted trade look like an ordinary one.
	if err := os.WriteFile(path, []byte(strings.Replace(string(doc), "RSTR", "ACME", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Replay(context.Background(), ev, g.store)
	if !errors.Is(err, contentstore.ErrTampered) || !strings.Contains(err.Error(), path) {
		t.Fatalf("tampered input: %v", err)
	}
}

// A registry snapshot that disagrees with the recorded input (the gateway
// fed policy an entry its registry version does not have) is reported.
func TestReplay_InputDisagreesWithRegistry(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	def := g.engine(t, "../../policy")
	agent, _ := g.reg.Agent("note-summarizer")
	promoted := *agent
	promoted.Tier = 3
	var agents []registry.Agent
	for _, a := range g.reg.Agents {
		if a.ID == promoted.ID {
			a = promoted
		}
		agents = append(agents, a)
	}
	// Same version, different content: a registry the gateway misread.
	g.reg = registry.New(g.reg.Version, g.reg.Servers, agents, g.reg.Tenants)
	ev := g.decide(t, def, call{"note-summarizer", "dr-alice", "st-marys", "ehr", "write_summary", `{"patient_id":"p-1","summary":"ok"}`})
	_, err := Replay(context.Background(), ev, g.store)
	if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "agent") {
		t.Fatalf("err = %v", err)
	}
}

// A policy that failed to evaluate then fails now: the same decision.
func TestReplay_PolicyErrorReproduced(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	dir := t.TempDir()
	rego := "package actiongate.authz\n\ndecision := {\"allow\": true, \"approval_required\": false, \"reasons\": [], \"obligations\": {}} if input.call.arguments.ok\n"
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(rego), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := g.engine(t, dir)
	ev := g.decide(t, eng, readChart) // decision undefined: an evaluation error
	if ev.Reason != string(decision.ReasonInternal) {
		t.Fatalf("reason %s", ev.Reason)
	}
	r, err := Replay(context.Background(), ev, g.store)
	if err != nil || r.Replayed.Error == "" {
		t.Fatalf("%+v, %v", r.Replayed, err)
	}
	// An allow without reasons followed by a failed rate-limit store
	// records just what a failed policy does: both replay as a match.
	ok := g.decide(t, eng, call{"note-summarizer", "dr-alice", "st-marys", "ehr", "read_chart", `{"ok":true}`})
	ok.Outcome, ok.Reason = "deny", string(decision.ReasonInternal)
	if r, err := Replay(context.Background(), ok, g.store); err != nil || r.Replayed.Carried == "" {
		t.Fatalf("%+v, %v", r.Replayed, err)
	}
	// With the default policy an allow has reasons, which the event lacks.
	def := g.engine(t, "../../policy")
	read := g.decide(t, def, readChart)
	read.Outcome, read.Reason, read.PolicyReasons = "deny", string(decision.ReasonInternal), nil
	if _, err := Replay(context.Background(), read, g.store); !errors.Is(err, ErrMismatch) {
		t.Fatalf("err = %v", err)
	}
}
