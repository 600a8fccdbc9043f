package authzmodel

import (
	"testing"

	"github.com/actiongate/actiongate/internal/principal"
)

// TestCheckCache: a repeated check is answered without SpiceDB for the TTL,
// and a write this client learns of drops the cached answers.
func TestCheckCache(t *testing.T) {
	c, sdb := freshClient(t)
	ctx := testContext(t)
	if _, err := c.Sync(ctx, loadExample(t), SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}
	if r, err := c.CheckInvoke(ctx, alice, "ehr", "read_chart"); err != nil || !r.Allowed {
		t.Fatalf("first check: %+v %v", r, err)
	}
	tok := c.ConsistencyFloor()
	sdb.Stop()
	if r, err := c.CheckInvoke(ctx, alice, "ehr", "read_chart"); err != nil || !r.Allowed {
		t.Fatalf("a repeated check within the TTL must not need SpiceDB: %+v %v", r, err)
	}
	other := alice
	other.Groups = []string{"physicians"}
	if _, err := c.CheckInvoke(ctx, other, "ehr", "read_chart"); err == nil {
		t.Fatal("another principal (other groups) must not share the cached answer")
	}
	c.ObserveZedToken(tok + "x")
	if _, err := c.CheckInvoke(ctx, alice, "ehr", "read_chart"); err == nil {
		t.Fatal("after a write is observed the cache must be dropped (SpiceDB is down, so the check must fail)")
	}
}
