package authzmodel

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// withAgent returns a copy of reg whose agent id is replaced by edit's
// result; the original (shared, immutable) registry is untouched.
func withAgent(t *testing.T, reg *registry.Registry, id string, edit func(registry.Agent) registry.Agent) *registry.Registry {
	t.Helper()
	agents := slices.Clone(reg.Agents)
	found := false
	for i := range agents {
		if agents[i].ID == id {
			agents[i] = edit(agents[i])
			found = true
		}
	}
	if !found {
		t.Fatalf("no agent %q in the registry", id)
	}
	return registry.New(reg.Version, reg.Servers, agents, reg.Tenants)
}

func TestDesired_Example(t *testing.T) {
	t.Parallel()
	reg := loadExample(t)
	got := Desired(reg)
	if !slices.IsSortedFunc(got, compareRelationships) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatal("Desired is not sorted and unique")
	}
	if again := Desired(reg); !slices.Equal(got, again) {
		t.Fatal("Desired is not deterministic")
	}
	for _, r := range got {
		p, err := r.proto()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s fails SpiceDB's validation: %v", r, err)
		}
	}
	lines := map[string]bool{}
	tools, linked := 0, 0
	for _, r := range got {
		lines[r.String()] = true
		switch {
		case r.ResourceType == typeRevocations:
			t.Errorf("Desired writes a revocation: %s", r)
		case r.ResourceType == typeTool && r.Relation == relServer:
			tools++
		case r.ResourceType == typeTool && r.Relation == relRevocations:
			linked++
		}
	}
	// A tool without the link would ignore revocations.
	if tools == 0 || linked != tools {
		t.Errorf("%d of %d tools linked to revocations:all", linked, tools)
	}
	for _, want := range []string{
		"tool:ehr/read_chart#agent_grant@agent:note-summarizer",
		"tool:ehr/read_chart#user_grant@user:dr-alice",
		"tool:ehr/read_chart#user_grant@group:physicians#member",
		"server:trading#agent_grant@agent:trade-executor",
		"server:trading#user_grant@user:trader-bob",
		`group:staff#claimed@user:*[in_groups:{"group":"staff"}]`,
		`agent:inbox-assistant#acting@user:*[acting_agent:{"agent_id":"inbox-assistant"}]`,
		`tenant:northwind#current@user:*[request_tenant:{"tenant_id":"northwind"}]`,
		"agent:note-summarizer#tier@tier:1",
		"tool:trading/place_trade#revocations@revocations:all",
	} {
		if !lines[want] {
			t.Errorf("Desired lacks %s", want)
		}
	}
}

func TestDesired_EscapesIdentifiers(t *testing.T) {
	t.Parallel()
	reg := loadExample(t)
	reg = withAgent(t, reg, "note-summarizer", func(a registry.Agent) registry.Agent {
		a.Users = []string{"dr.alice@stmarys.example", "*"}
		a.Groups = []string{"Clinical Staff"}
		return a
	})
	lines := map[string]bool{}
	for _, r := range Desired(reg) {
		p, _ := r.proto()
		if err := p.Validate(); err != nil {
			t.Errorf("%s fails SpiceDB's validation: %v", r, err)
		}
		lines[r.String()] = true
	}
	for _, want := range []string{
		"agent:note-summarizer#approved@user:dr=2Ealice=40stmarys=2Eexample",
		"agent:note-summarizer#approved@user:=2A", // a user named "*" is not everyone
		`group:Clinical=20Staff#claimed@user:*[in_groups:{"group":"Clinical Staff"}]`,
	} {
		if !lines[want] {
			t.Errorf("Desired lacks %s", want)
		}
	}
}

func TestClient_Sync_Idempotent(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	ctx := testContext(t)
	reg := loadExample(t)
	first, err := c.Sync(ctx, reg, SyncOptions{})
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if !first.SchemaChanged || len(first.Add) != len(Desired(reg)) || len(first.Remove)+len(first.Change) != 0 {
		t.Fatalf("first sync on an empty server: schema %v, +%d ~%d -%d; want the schema and +%d",
			first.SchemaChanged, len(first.Add), len(first.Change), len(first.Remove), len(Desired(reg)))
	}
	if first.WrittenAt == "" || c.ConsistencyFloor() != first.WrittenAt {
		t.Fatalf("WrittenAt %q, floor %q: want the write's token as the check floor", first.WrittenAt, c.ConsistencyFloor())
	}
	second, err := c.Sync(ctx, reg, SyncOptions{})
	if err != nil {
		t.Fatalf("second sync: %v", err)
	}
	if !second.Empty() || second.String() != "" || second.WrittenAt != "" {
		t.Fatalf("second sync is not empty:\n%s(written at %q)", second, second.WrittenAt)
	}
}

func TestClient_Sync_DryRunWritesNothing(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	ctx := testContext(t)
	reg := loadExample(t)
	dry, err := c.Sync(ctx, reg, SyncOptions{DryRun: true})
	if err != nil {
		t.Fatalf("dry run on an empty server: %v", err)
	}
	if !dry.DryRun || !dry.SchemaChanged || len(dry.Add) != len(Desired(reg)) || dry.WrittenAt != "" {
		t.Fatalf("dry run: %+v", dry)
	}
	if differs, err := c.SchemaDiffers(ctx); err != nil || !differs {
		t.Fatalf("after a dry run the schema was written (differs=%v, %v)", differs, err)
	}
	if c.ConsistencyFloor() != "" {
		t.Fatal("a dry run moved the consistency floor")
	}
	real, err := c.Sync(ctx, reg, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(real.Add, dry.Add) {
		t.Fatal("the real sync after a dry run did not add what the dry run listed")
	}
	// A dry run of a revocation lists it and leaves the access in place.
	revoked := withAgent(t, reg, "note-summarizer", func(a registry.Agent) registry.Agent { a.Users = nil; return a })
	dry, err = c.Sync(ctx, revoked, SyncOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.SchemaChanged || len(dry.Remove) != 3 {
		t.Fatalf("dry run of a revocation:\n%s", dry)
	}
	alice := principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}
	if res, err := c.CheckInvoke(ctx, alice, "ehr", "read_chart"); err != nil || !res.Allowed {
		t.Fatalf("after a dry run: %+v, %v; want still allowed", res, err)
	}
}

// TestClient_Sync_RevokesUser: removing an approved user from the registry
// removes exactly their relationships, and the very next check (through
// this client, or another one told the token) denies, without waiting.
func TestClient_Sync_RevokesUser(t *testing.T) {
	t.Parallel()
	c, srv := freshClient(t)
	ctx := testContext(t)
	reg := loadExample(t)
	if _, err := c.Sync(ctx, reg, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}
	carol := principal.Principal{User: "dr-carol", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"}}
	bob := principal.Principal{User: "trader-bob", Agent: "trade-executor", Tenant: "northwind"}
	expect := func(c *Client, p principal.Principal, server, tool string, want bool) {
		t.Helper()
		res, err := c.CheckInvoke(ctx, p, server, tool)
		if err != nil || res.Allowed != want {
			t.Fatalf("%s on %s/%s: %+v, %v; want allowed=%v", p.User, server, tool, res, err, want)
		}
	}
	expect(c, alice, "ehr", "read_chart", true)

	// Another replica that has checked before the revocation.
	other, err := Dial(ctx, Options{Endpoint: srv.Endpoint, PresharedKey: srv.PresharedKey, Insecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	expect(other, alice, "ehr", "read_chart", true)

	revoked := withAgent(t, reg, "note-summarizer", func(a registry.Agent) registry.Agent { a.Users = nil; return a })
	d, err := c.Sync(ctx, revoked, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"- agent:note-summarizer#approved@user:dr-alice",
		"- tool:ehr/read_chart#user_grant@user:dr-alice",
		"- tool:ehr/write_summary#user_grant@user:dr-alice",
	}
	if got := strings.Split(strings.TrimSpace(d.String()), "\n"); !slices.Equal(got, want) {
		t.Fatalf("revocation diff:\n%s\nwant:\n%s", d, strings.Join(want, "\n"))
	}
	expect(c, alice, "ehr", "read_chart", false)
	expect(c, alice, "ehr", "write_summary", false)
	other.ObserveZedToken(d.WrittenAt)
	expect(other, alice, "ehr", "read_chart", false)
	// Nobody else is touched.
	expect(c, carol, "ehr", "read_chart", true)
	expect(c, bob, "trading", "place_trade", true)
}

// TestClient_Sync_RegistryIsSourceOfTruth: relationships of managed types
// that the registry does not imply are removed, and a caveat that differs
// from the registry's is replaced.
func TestClient_Sync_RegistryIsSourceOfTruth(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	ctx := testContext(t)
	reg := loadExample(t)
	if _, err := c.Sync(ctx, reg, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign := Relationship{ResourceType: typeTool, ResourceID: "ehr/read_chart", Relation: relAgentGrant, SubjectType: typeAgent, SubjectID: "inbox-assistant"}
	tampered := caveated(Relationship{ResourceType: typeGroup, ResourceID: "staff", Relation: relClaimed, SubjectType: typeUser, SubjectID: "*"},
		caveatInGroups, paramGroup, "everyone")
	unmanaged := Relationship{ResourceType: typeAgent, ResourceID: "note-summarizer", Relation: relTier, SubjectType: typeTier, SubjectID: "4"}
	writeRelationships(t, c, foreign, tampered, unmanaged)

	d, err := c.Sync(ctx, reg, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Diff{
		Change: []Relationship{caveated(tampered, caveatInGroups, paramGroup, "staff")},
		Remove: []Relationship{unmanaged, foreign},
	}
	if !slices.Equal(d.Add, want.Add) || !slices.Equal(d.Change, want.Change) || !slices.Equal(d.Remove, want.Remove) {
		t.Fatalf("diff:\n%swant:\n%s", d, want)
	}
	if again, err := c.Sync(ctx, reg, SyncOptions{}); err != nil || !again.Empty() {
		t.Fatalf("sync after repair: %v\n%s", err, again)
	}
}

func writeRelationships(t *testing.T, c *Client, rs ...Relationship) {
	t.Helper()
	var updates []*v1.RelationshipUpdate
	for _, r := range rs {
		p, err := r.proto()
		if err != nil {
			t.Fatal(err)
		}
		updates = append(updates, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: p})
	}
	resp, err := c.api.WriteRelationships(testContext(t), &v1.WriteRelationshipsRequest{Updates: updates})
	if err != nil {
		t.Fatal(err)
	}
	c.observe(resp.GetWrittenAt())
}

// TestClient_Sync_Large crosses SpiceDB's page and batch limits (1000), so
// reading pages through a snapshot and writing in batches are exercised.
func TestClient_Sync_Large(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	ctx := testContext(t)
	reg := loadExample(t)
	users := make([]string, 900)
	for i := range users {
		users[i] = fmt.Sprintf("user-%04d@example.com", i)
	}
	big := withAgent(t, reg, "note-summarizer", func(a registry.Agent) registry.Agent { a.Users = users; return a })
	d, err := c.Sync(ctx, big, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(Desired(big)); len(d.Add) != n || n < 2*maxUpdatesPerWrite {
		t.Fatalf("added %d of %d desired relationships (want more than %d to cross the batch limit)", len(d.Add), n, 2*maxUpdatesPerWrite)
	}
	if again, err := c.Sync(ctx, big, SyncOptions{}); err != nil || !again.Empty() {
		t.Fatalf("second sync of a large registry: %v, +%d ~%d -%d", err, len(again.Add), len(again.Change), len(again.Remove))
	}
	last := principal.Principal{User: users[len(users)-1], Agent: "note-summarizer", Tenant: "st-marys"}
	if res, err := c.CheckInvoke(ctx, last, "ehr", "write_summary"); err != nil || !res.Allowed {
		t.Fatalf("last user: %+v, %v", res, err)
	}
	d, err = c.Sync(ctx, reg, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Each user had approved and two user grants; dr-alice comes back.
	if len(d.Remove) != 3*len(users) || len(d.Add) != 3 {
		t.Fatalf("shrinking back: +%d -%d, want +3 -%d", len(d.Add), len(d.Remove), 3*len(users))
	}
	if res, err := c.CheckInvoke(ctx, last, "ehr", "write_summary"); err != nil || res.Allowed {
		t.Fatalf("last user after shrinking: %+v, %v", res, err)
	}
}

func TestDiff_String(t *testing.T) {
	t.Parallel()
	grant := Relationship{ResourceType: "tool", ResourceID: "ehr/read_chart", Relation: "agent_grant", SubjectType: "agent", SubjectID: "note-summarizer"}
	member := Relationship{ResourceType: "tool", ResourceID: "mail/read_inbox", Relation: "user_grant", SubjectType: "group", SubjectID: "staff", SubjectRelation: "member"}
	group := caveated(Relationship{ResourceType: "group", ResourceID: "staff", Relation: "claimed", SubjectType: "user", SubjectID: "*"}, "in_groups", "group", "staff")
	tests := []struct {
		name string
		d    Diff
		want string
	}{
		{"empty", Diff{}, ""},
		{"all kinds", Diff{SchemaChanged: true, Add: []Relationship{grant}, Change: []Relationship{group}, Remove: []Relationship{member}},
			"~ schema\n" +
				"- tool:mail/read_inbox#user_grant@group:staff#member\n" +
				"+ tool:ehr/read_chart#agent_grant@agent:note-summarizer\n" +
				"~ group:staff#claimed@user:*[in_groups:{\"group\":\"staff\"}]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.d.String(); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if tc.d.Empty() != (tc.want == "") {
				t.Fatalf("Empty() = %v", tc.d.Empty())
			}
		})
	}
}
