package authzmodel

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/principal"
)

// matrixCase is one row of the allow/deny matrix over the example
// registry. testdata/model.yaml asserts the same rows (TestModelFile_CoversMatrix).
type matrixCase struct {
	name         string
	user, agent  string
	tenant       string
	groups       []string
	server, tool string
	allow        bool
}

var matrix = []matrixCase{
	{"physician via note-summarizer reads a chart", "dr-alice", "note-summarizer", "st-marys", nil, "ehr", "read_chart", true},
	{"physician via note-summarizer writes a summary", "dr-alice", "note-summarizer", "st-marys", nil, "ehr", "write_summary", true},
	{"member of an approved group (physicians)", "dr-carol", "note-summarizer", "st-marys", []string{"physicians"}, "ehr", "read_chart", true},
	{"user not approved for the agent", "nurse-nina", "note-summarizer", "st-marys", []string{"nurses"}, "ehr", "read_chart", false},
	{"agent without a grant, user who may read charts", "dr-alice", "inbox-assistant", "st-marys", []string{"staff", "physicians"}, "ehr", "read_chart", false},
	{"cross-tenant: right user and agent", "dr-alice", "note-summarizer", "northwind", []string{"physicians"}, "ehr", "read_chart", false},
	{"group-approved agent, member of staff", "sam", "inbox-assistant", "st-marys", []string{"staff"}, "mail", "read_inbox", true},
	{"group-approved agent, member of staff, other tenant", "sam", "inbox-assistant", "northwind", []string{"staff"}, "mail", "send_email", true},
	{"group-approved agent, no groups", "sam", "inbox-assistant", "st-marys", nil, "mail", "read_inbox", false},
	{"group-approved agent, other group", "sam", "inbox-assistant", "st-marys", []string{"staffers", "Staff"}, "mail", "read_inbox", false},
	{"server-level grant: get_quote", "trader-bob", "trade-executor", "northwind", nil, "trading", "get_quote", true},
	{"server-level grant: place_trade", "trader-bob", "trade-executor", "northwind", nil, "trading", "place_trade", true},
	{"server-level grant: list_positions", "trader-bob", "trade-executor", "northwind", nil, "trading", "list_positions", true},
	{"server-level grant, unregistered tool", "trader-bob", "trade-executor", "northwind", nil, "trading", "cancel_all", false},
	{"server-level grant, wrong tenant", "trader-bob", "trade-executor", "st-marys", nil, "trading", "get_quote", false},
	{"tool not granted to the agent", "trader-bob", "trade-executor", "northwind", nil, "mail", "read_inbox", false},
	{"tool of another server not granted", "dr-alice", "note-summarizer", "st-marys", nil, "mail", "send_email", false},
	{"person cannot borrow an agent's reach", "dr-alice", "trade-executor", "northwind", nil, "trading", "get_quote", false},
	{"approved user of one agent through another", "trader-bob", "note-summarizer", "st-marys", nil, "ehr", "read_chart", false},
	{"unregistered agent", "dr-alice", "rogue-agent", "st-marys", []string{"physicians"}, "ehr", "read_chart", false},
	{"unregistered tenant", "sam", "inbox-assistant", "acme", []string{"staff"}, "mail", "read_inbox", false},
	{"subject '*' is not a wildcard", "*", "note-summarizer", "st-marys", nil, "ehr", "read_chart", false},
	{"email subject, not approved", "dr.alice@stmarys.example", "note-summarizer", "st-marys", nil, "ehr", "read_chart", false},
}

func TestClient_CheckInvoke_Matrix(t *testing.T) {
	c := sharedClient(t)
	for _, tc := range matrix {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := principal.Principal{User: tc.user, Agent: tc.agent, Tenant: tc.tenant, Groups: tc.groups}
			got, err := c.CheckInvoke(testContext(t), p, tc.server, tc.tool)
			if err != nil {
				t.Fatalf("CheckInvoke: %v", err)
			}
			if got.Allowed != tc.allow {
				t.Fatalf("allowed = %v (%s), want %v", got.Allowed, got.Reason, tc.allow)
			}
			want := ReasonNoPermission
			if tc.allow {
				want = ReasonAllowed
			}
			if got.Reason != want {
				t.Errorf("reason = %q, want %q", got.Reason, want)
			}
			if got.CheckedAt == "" {
				t.Error("CheckedAt is empty")
			}
		})
	}
}

func TestClient_CheckInvoke_IncompletePrincipal(t *testing.T) {
	c := sharedClient(t)
	full := principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}
	tests := []struct {
		name         string
		edit         func(*principal.Principal)
		server, tool string
		want         string
	}{
		{"no user", func(p *principal.Principal) { p.User = "" }, "ehr", "read_chart", "user"},
		{"no agent", func(p *principal.Principal) { p.Agent = "" }, "ehr", "read_chart", "agent"},
		{"no tenant", func(p *principal.Principal) { p.Tenant = "" }, "ehr", "read_chart", "tenant"},
		{"no tool", func(*principal.Principal) {}, "ehr", "", "tool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := full
			tc.edit(&p)
			got, err := c.CheckInvoke(testContext(t), p, tc.server, tc.tool)
			if err != nil {
				t.Fatalf("CheckInvoke: %v", err)
			}
			if got.Allowed || got.CheckedAt != "" || !strings.HasSuffix(got.Reason, "no "+tc.want) {
				t.Fatalf("got %+v, want a denial naming %q and no check", got, tc.want)
			}
		})
	}
}

// TestClient_Check_Conditional leaves caveat context out, as a caller that
// forgot a claim would: SpiceDB answers CONDITIONAL, and that is a denial
// naming what was missing.
func TestClient_Check_Conditional(t *testing.T) {
	c := sharedClient(t)
	p := principal.Principal{User: "dr-carol", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"}}
	tests := []struct {
		name    string
		drop    string
		missing string
	}{
		{"no tenant in context", ctxTenant, ctxTenant},
		{"no agent in context", ctxAgent, ctxAgent},
		{"no groups in context", ctxGroups, ctxGroups},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cr := newCheckRequest(c.consistency.Load(), p, "ehr", "read_chart")
			delete(cr.caveatCtx.Fields, tc.drop)
			got, err := c.check(testContext(t), cr)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if got.Allowed {
				t.Fatalf("allowed with %s missing", tc.drop)
			}
			if !strings.HasPrefix(got.Reason, reasonConditional) || !strings.Contains(got.Reason, tc.missing) {
				t.Fatalf("reason = %q, want a conditional denial naming %q", got.Reason, tc.missing)
			}
		})
	}
	t.Run("full context allows", func(t *testing.T) {
		t.Parallel()
		got, err := c.check(testContext(t), newCheckRequest(c.consistency.Load(), p, "ehr", "read_chart"))
		if err != nil || !got.Allowed {
			t.Fatalf("got %+v, %v; want allowed (the conditional cases above must differ only by context)", got, err)
		}
	})
}

// TestClient_Check_ContextCannotOverrideStoredCaveats: stored caveat
// parameters win over request context, so a caller cannot claim to be the
// agent a relationship names.
func TestClient_Check_ContextCannotOverrideStoredCaveats(t *testing.T) {
	c := sharedClient(t)
	p := principal.Principal{User: "dr-alice", Agent: "inbox-assistant", Tenant: "st-marys"}
	cr := newCheckRequest(c.consistency.Load(), p, "ehr", "read_chart")
	cr.caveatCtx.Fields[paramAgentID] = structpb.NewStringValue("inbox-assistant")
	cr.caveatCtx.Fields[paramTenant] = structpb.NewStringValue("st-marys")
	got, err := c.check(testContext(t), cr)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if got.Allowed {
		t.Fatal("request context overrode a stored caveat parameter")
	}
}

func TestClient_CheckInvoke_ErrorIsReturned(t *testing.T) {
	t.Parallel()
	c, srv := freshClient(t)
	srv.Stop()
	p := principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}
	got, err := c.CheckInvoke(testContext(t), p, "ehr", "read_chart")
	if err == nil || got.Allowed {
		t.Fatalf("got %+v, %v; want an error and no allow with SpiceDB down", got, err)
	}
}

func BenchmarkCheckInvoke(b *testing.B) {
	c := sharedClient(b)
	// A deadline, so CheckInvoke adds no timer of its own, and a long one,
	// so -benchtime cannot outlast it.
	ctx, cancel := context.WithTimeout(b.Context(), time.Hour)
	defer cancel()
	cases := []struct {
		name string
		p    principal.Principal
		tool string
	}{
		{"direct_user_allow", principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}, "read_chart"},
		{"group_allow", principal.Principal{User: "dr-carol", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"}}, "read_chart"},
		{"deny_cross_tenant", principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "northwind"}, "read_chart"},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.CheckInvoke(ctx, bc.p, "ehr", bc.tool); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("minimize_latency", func(b *testing.B) {
		// A client that never wrote checks with MinimizeLatency.
		fresh, err := Dial(ctx, Options{Endpoint: shared.server.Endpoint, PresharedKey: shared.server.PresharedKey, Insecure: true})
		if err != nil {
			b.Fatal(err)
		}
		defer fresh.Close()
		// MinimizeLatency reads a quantized revision (5 s by default), which
		// may predate TestMain's schema write: wait until it does not.
		deadline := time.Now().Add(10 * time.Second)
		for _, err := fresh.CheckInvoke(ctx, cases[0].p, "ehr", "read_chart"); err != nil; _, err = fresh.CheckInvoke(ctx, cases[0].p, "ehr", "read_chart") {
			if time.Now().After(deadline) {
				b.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fresh.CheckInvoke(ctx, cases[0].p, "ehr", "read_chart"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		p := cases[0].p
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.CheckInvoke(ctx, p, "ehr", "read_chart"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestNewCheckRequest compares the hand-assembled request with one built
// the obvious way, and bounds what it allocates.
func TestNewCheckRequest(t *testing.T) {
	tests := []struct {
		name      string
		p         principal.Principal
		maxAllocs float64
	}{
		{"no groups", principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}, 4},
		{"groups", principal.Principal{User: "dr.alice@x.example", Agent: "a", Tenant: "t", Groups: []string{"physicians", "staff"}}, 8}, // +1 escaping the user, +3 for groups
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { // not parallel: AllocsPerRun
			groups := make([]any, len(tc.p.Groups))
			for i, g := range tc.p.Groups {
				groups[i] = g
			}
			caveatCtx, err := structpb.NewStruct(map[string]any{"agent": tc.p.Agent, "tenant": tc.p.Tenant, "groups": groups})
			if err != nil {
				t.Fatal(err)
			}
			want := &v1.CheckPermissionRequest{
				Consistency: minimizeLatency,
				Resource:    &v1.ObjectReference{ObjectType: "tool", ObjectId: "ehr/read_chart"},
				Permission:  "invoke",
				Subject:     &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: ObjectID(tc.p.User)}},
				Context:     caveatCtx,
			}
			got := &newCheckRequest(minimizeLatency, tc.p, "ehr", "read_chart").req
			if !proto.Equal(got, want) {
				t.Fatalf("request\n got %v\nwant %v", got, want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("request fails SpiceDB's own validation: %v", err)
			}
			allocs := testing.AllocsPerRun(100, func() { _ = newCheckRequest(minimizeLatency, tc.p, "ehr", "read_chart") })
			if allocs > tc.maxAllocs {
				t.Errorf("building a request allocates %v times, want at most %v", allocs, tc.maxAllocs)
			}
		})
	}
}

// TestClient_CheckInvoke_ManyGroups: an IdP may send hundreds of groups,
// more than SpiceDB's 4 KiB request-context limit; only the ones the
// registry names are sent, so the check still answers.
func TestClient_CheckInvoke_ManyGroups(t *testing.T) {
	t.Parallel()
	sharedClient(t)
	ctx := testContext(t)
	p := principal.Principal{User: "dr-carol", Agent: "note-summarizer", Tenant: "st-marys"}
	for i := range 400 {
		p.Groups = append(p.Groups, fmt.Sprintf("CN=group-%04d,OU=Groups,DC=stmarys,DC=example", i))
	}
	p.Groups = append(p.Groups, "physicians")
	c, err := Dial(ctx, Options{Endpoint: shared.server.Endpoint, PresharedKey: shared.server.PresharedKey, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A new client checks with MinimizeLatency, which may read a revision
	// from before TestMain wrote the schema (SpiceDB quantizes revisions):
	// start from what the shared client wrote, as a replica told the
	// ZedToken would.
	c.ObserveZedToken(shared.client.ConsistencyFloor())
	if res, err := c.CheckInvoke(ctx, p, "ehr", "read_chart"); err == nil {
		t.Fatalf("without the registry's groups: %+v, want SpiceDB to refuse the oversized context", res)
	}
	c.UseRegistry(loadExample(t))
	if res, err := c.CheckInvoke(ctx, p, "ehr", "read_chart"); err != nil || !res.Allowed {
		t.Fatalf("with the registry's groups: %+v, %v; want allowed", res, err)
	}
}

func TestRelevantGroups(t *testing.T) {
	t.Parallel()
	named := map[string]struct{}{"staff": {}, "physicians": {}}
	tests := []struct {
		name    string
		claimed []string
		want    []string
	}{
		{"none claimed", nil, nil},
		{"all named", []string{"staff", "physicians"}, []string{"staff", "physicians"}},
		{"some named", []string{"x", "staff", "y"}, []string{"staff"}},
		{"none named", []string{"x", "Staff"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := relevantGroups(tc.claimed, named); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
