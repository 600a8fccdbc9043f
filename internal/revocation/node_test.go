package revocation

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestRevoke_ThreeReplicas: a revocation is in every replica's State when
// Revoke returns, nobody else is touched, and a lift ends it everywhere
// while keeping its time for tokens issued before it.
func TestRevoke_ThreeReplicas(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	nodes := []*testNode{startNode(t, brokers, "gw-a"), startNode(t, brokers, "gw-b"), startNode(t, brokers, "gw-c")}
	ctx := testContext(t)

	rc, err := Revoke(ctx, revokeOpts(brokers), userRevocation("dr-alice"))
	if err != nil {
		t.Fatalf("revoke: %v (receipt %+v)", err, rc)
	}
	want := []string{"gw-a", "gw-b", "gw-c"}
	if !slices.Equal(rc.Live, want) || !slices.Equal(slices.Sorted(maps.Keys(rc.Confirmed)), want) || len(rc.Missing) != 0 {
		t.Fatalf("receipt: live %v, confirmed %v, missing %v; want all of %v", rc.Live, rc.Confirmed, rc.Missing, want)
	}
	for id, d := range rc.Confirmed {
		if d <= 0 || d > rc.Enforced {
			t.Errorf("%s confirmed after %v, enforced %v", id, d, rc.Enforced)
		}
	}
	t.Logf("publish → all acks: %v (%v)", rc.Enforced, rc.Confirmed)
	for _, n := range nodes {
		got, ok := n.State().Revoked(KindUser, "dr-alice")
		if !ok || got.ID != rc.ID || got.Reason != "offboarded" || got.Source != SourceCLI {
			t.Errorf("%s: Revoked = %+v, %v; want revocation %s", n.ReplicaID(), got, ok, rc.ID)
		}
		if n.State().UserRevoked("trader-bob") || n.State().AgentRevoked("dr-alice") {
			t.Errorf("%s: another user, or an agent of the same name, is revoked", n.ReplicaID())
		}
		if at, inForce := n.State().RevokedAt("dr-alice", "note-summarizer"); !inForce || at.IsZero() {
			t.Errorf("%s: RevokedAt = %v, %v; want in force", n.ReplicaID(), at, inForce)
		}
		if n.applied.Load() != 1 {
			t.Errorf("%s: Apply called %d times, want 1", n.ReplicaID(), n.applied.Load())
		}
	}

	lift, err := Lift(ctx, revokeOpts(brokers), userRevocation("dr-alice"))
	if err != nil || len(lift.Confirmed) != 3 {
		t.Fatalf("lift: %v (confirmed %v)", err, lift.Confirmed)
	}
	for _, n := range nodes {
		if n.State().UserRevoked("dr-alice") {
			t.Errorf("%s: still revoked after the lift", n.ReplicaID())
		}
		at, inForce := n.State().RevokedAt("dr-alice", "")
		if inForce || at.Before(lift.PublishedAt.Add(-time.Second)) {
			t.Errorf("%s: after the lift RevokedAt = %v, %v; want not in force, time kept", n.ReplicaID(), at, inForce)
		}
	}
}

// TestNode_LateReplicaLearnsBeforeReady: a replica started after
// revocations (and a lift) has all of them in State when Ready closes.
func TestNode_LateReplicaLearnsBeforeReady(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	ctx := testContext(t)
	opts := revokeOpts(brokers)
	publishAll(t, brokers, []Revocation{
		userRevocation("dr-alice"),
		{Kind: KindAgent, Subject: "trade-executor", Source: SourceAdmin, Issuer: "soc"},
		userRevocation("sam"),
		{Kind: KindSession, Subject: "sess-42", Source: SourceSSF, Issuer: "https://idp.example"},
	})
	if _, err := Lift(ctx, opts, userRevocation("sam")); !errors.Is(err, ErrNoReplicas) {
		t.Fatalf("lift with no replica: %v, want ErrNoReplicas", err)
	}

	late := startNodeNoWait(t, brokers, "gw-late")
	select {
	case <-late.Ready():
	case <-ctx.Done():
		t.Fatal("the late node never became ready")
	}
	s := late.State() // read at once: Ready promises it is complete
	if !s.UserRevoked("dr-alice") || !s.AgentRevoked("trade-executor") || !s.SessionRevoked("sess-42") {
		t.Fatalf("late node misses a revocation in force: %v", s.InForce())
	}
	if s.UserRevoked("sam") {
		t.Fatal("late node has sam revoked; the lift came later")
	}
	if got := len(s.InForce()); got != 3 {
		t.Fatalf("in force: %d, want 3", got)
	}
	if late.Stats().Acks != 0 {
		// Young records are acknowledged on catch-up only for a revoker
		// that may still be waiting; none was, but nothing breaks if one is.
		t.Logf("late node acknowledged %d records on catch-up", late.Stats().Acks)
	}
}

// publishAll publishes revocations with no replica running.
func publishAll(t *testing.T, brokers []string, rs []Revocation) {
	t.Helper()
	for _, r := range rs {
		if _, err := Revoke(testContext(t), revokeOpts(brokers), r); !errors.Is(err, ErrNoReplicas) {
			t.Fatalf("revoke %s with no replica: %v, want ErrNoReplicas", r.Key(), err)
		}
	}
}

// TestRevoke_CrashedReplicaIsMissing: a replica that stopped without a
// goodbye is reported Missing once the timeout passes; one that stopped
// on purpose is not waited for.
func TestRevoke_CrashedReplicaIsMissing(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	a, b := startNode(t, brokers, "gw-a"), startNode(t, brokers, "gw-b")
	c := startNode(t, brokers, "gw-c")
	b.crash()
	c.Stop()
	opts := revokeOpts(brokers)
	opts.Timeout = time.Second
	start := time.Now()
	rc, err := Revoke(testContext(t), opts, userRevocation("dr-alice"))
	if !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("revoke: %v, want ErrUnconfirmed", err)
	}
	if !slices.Equal(rc.Missing, []string{"gw-b"}) || len(rc.Confirmed) != 1 || rc.Confirmed["gw-a"] == 0 {
		t.Fatalf("receipt: live %v, confirmed %v, missing %v; want gw-a confirmed, gw-b missing, gw-c not waited for",
			rc.Live, rc.Confirmed, rc.Missing)
	}
	if took := time.Since(start); took > opts.Timeout+2*time.Second {
		t.Fatalf("Revoke took %v with a timeout of %v", took, opts.Timeout)
	}
	if !a.State().UserRevoked("dr-alice") {
		t.Fatal("the live replica does not enforce it")
	}
}

// TestRevoke_ApplyFailureIsMissing: a replica whose Apply hook fails does
// not acknowledge and is reported Missing; it still enforces through State,
// and acknowledges once the hook recovers.
func TestRevoke_ApplyFailureIsMissing(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	startNode(t, brokers, "gw-a")
	bad := startNode(t, brokers, "gw-b")
	bad.fail.Store(true)
	opts := revokeOpts(brokers)
	opts.Timeout = time.Second
	rc, err := Revoke(testContext(t), opts, userRevocation("dr-alice"))
	if !errors.Is(err, ErrUnconfirmed) || !slices.Equal(rc.Missing, []string{"gw-b"}) {
		t.Fatalf("revoke: %v, missing %v; want gw-b missing", err, rc.Missing)
	}
	if !bad.State().UserRevoked("dr-alice") {
		t.Fatal("State of the failing replica does not show the revocation")
	}
	if bad.Stats().ApplyFailures == 0 || bad.Stats().Acks != 0 {
		t.Fatalf("stats %+v: want failures and no ack", bad.Stats())
	}
	bad.fail.Store(false)
	waitFor(t, "the retried Apply's ack", func() bool { return bad.Stats().Acks == 1 })
}

// TestNode_RefusesMalformedRecords: a record that does not decode, or
// whose key is not its subject's, is counted and skipped; the node goes on.
func TestNode_RefusesMalformedRecords(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	n := startNode(t, brokers, "gw-a")
	misfiled := userRevocation("mallory")
	misfiled.ID, misfiled.At = NewID(), time.Now()
	good, _ := misfiled.encode()
	w := newWriter(brokers, DefaultTopic)
	defer w.Close()
	err := w.WriteMessages(testContext(t),
		kafka.Message{Key: []byte("user/x"), Value: []byte("{not json")},
		kafka.Message{Key: []byte("user/someone-else"), Value: good},
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two malformed records", func() bool { return n.Stats().Malformed == 2 })
	if n.State().UserRevoked("mallory") || n.State().UserRevoked("someone-else") {
		t.Fatal("a refused record changed State")
	}
	if _, err := Revoke(testContext(t), revokeOpts(brokers), userRevocation("dr-alice")); err != nil {
		t.Fatalf("revoke after malformed records: %v", err)
	}
}
