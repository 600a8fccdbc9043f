package authzmodel

import (
	"slices"
	"strings"
	"testing"

	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// TestClient_Revoke_Matrix: the whole allow/deny matrix with one user and
// one agent revoked: exactly the rows naming them flip to deny, at once
// (this client, with a warm answer cache, and another told the token);
// a Sync — even one that changes the registry — keeps them revoked; a lift
// restores the matrix.
func TestClient_Revoke_Matrix(t *testing.T) {
	t.Parallel()
	c, srv := freshClient(t)
	ctx := testContext(t)
	reg := loadExample(t)
	if _, err := c.Sync(ctx, reg, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := Dial(ctx, Options{Endpoint: srv.Endpoint, PresharedKey: srv.PresharedKey, Insecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// Another replica learns of the sync by its ZedToken (else its
	// MinimizeLatency reads may predate the schema: revision quantization).
	other.ObserveZedToken(c.ConsistencyFloor())
	const user, agent = "trader-bob", "note-summarizer"
	unrevoked := func(tc matrixCase) bool { return tc.allow }
	revoked := func(tc matrixCase) bool { return tc.allow && tc.user != user && tc.agent != agent }
	runMatrix(t, "before: this client", c, unrevoked) // warms both answer caches
	runMatrix(t, "before: another replica", other, unrevoked)

	tokUser, err := c.RevokeUser(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	tokAgent, err := c.RevokeAgent(ctx, agent)
	if err != nil {
		t.Fatal(err)
	}
	if tokUser == "" || tokAgent == "" || c.ConsistencyFloor() != tokAgent {
		t.Fatalf("tokens %q, %q, floor %q: want the last write's token as the floor", tokUser, tokAgent, c.ConsistencyFloor())
	}
	runMatrix(t, "revoked: this client", c, revoked)
	other.ObserveZedToken(tokAgent)
	runMatrix(t, "revoked: another replica told the token", other, revoked)

	// A registry change (dr-alice removed) and a plain re-sync leave the
	// revocations alone.
	shrunk := withAgent(t, reg, "note-summarizer", func(a registry.Agent) registry.Agent { a.Users = nil; return a })
	for _, r := range []*registry.Registry{shrunk, reg} {
		d, err := c.Sync(ctx, r, SyncOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(d.String(), typeRevocations+":") {
			t.Fatalf("sync touched a revocation:\n%s", d)
		}
	}
	users, agents, err := c.Revoked(ctx)
	if err != nil || !slices.Equal(users, []string{user}) || !slices.Equal(agents, []string{agent}) {
		t.Fatalf("after syncs: revoked users %v, agents %v, %v", users, agents, err)
	}
	runMatrix(t, "revoked, after syncs", c, revoked)

	if _, err := c.LiftUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LiftAgent(ctx, agent); err != nil {
		t.Fatal(err)
	}
	runMatrix(t, "lifted", c, unrevoked)
}

func runMatrix(t *testing.T, stage string, c *Client, want func(matrixCase) bool) {
	t.Helper()
	ctx := testContext(t)
	for _, tc := range matrix {
		p := principal.Principal{User: tc.user, Agent: tc.agent, Tenant: tc.tenant, Groups: tc.groups}
		got, err := c.CheckInvoke(ctx, p, tc.server, tc.tool)
		if err != nil {
			t.Fatalf("%s: %s: %v", stage, tc.name, err)
		}
		if got.Allowed != want(tc) {
			t.Errorf("%s: %s: allowed = %v, want %v", stage, tc.name, got.Allowed, want(tc))
		}
	}
}

// TestClient_Revoke_Idempotent: revoking twice and lifting what is not
// revoked succeed (a retried SSF or SCIM event does both); bad ids fail
// before SpiceDB is asked.
func TestClient_Revoke_Idempotent(t *testing.T) {
	t.Parallel()
	c, _ := freshClient(t)
	ctx := testContext(t)
	if _, err := c.Sync(ctx, loadExample(t), SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	email := "dr.alice@stmarys.example"
	for range 2 {
		if _, err := c.RevokeUser(ctx, email); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}
	users, _, err := c.Revoked(ctx)
	if err != nil || !slices.Equal(users, []string{ObjectID(email)}) {
		t.Fatalf("revoked users %v, %v; want the escaped email once", users, err)
	}
	for range 2 {
		if _, err := c.LiftUser(ctx, email); err != nil {
			t.Fatalf("lift: %v", err)
		}
	}
	if _, err := c.LiftAgent(ctx, "never-revoked"); err != nil {
		t.Fatalf("lifting an agent that was never revoked: %v", err)
	}
	if users, _, _ := c.Revoked(ctx); len(users) != 0 {
		t.Fatalf("still revoked after the lift: %v", users)
	}
	for _, bad := range []string{"", strings.Repeat("é", 600)} {
		if _, err := c.RevokeUser(ctx, bad); err == nil {
			t.Errorf("RevokeUser(%.10q…) succeeded", bad)
		}
	}
}
