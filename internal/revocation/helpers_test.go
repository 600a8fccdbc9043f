package revocation

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devenv"
)

// startKafka starts a Kafka-protocol broker (kfake) of the test's own.
func startKafka(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k, err := devenv.StartKafka(ctx, devenv.KafkaOptions{})
	if err != nil {
		cancel()
		t.Fatalf("start kafka: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", k.Logs.Tail(4096))
		}
		k.Stop()
		cancel()
	})
	return k.Brokers
}

// testLogger collects log lines and prints them only if the test failed.
// It outlives the test safely: nothing is written to t after cleanup.
func testLogger(t testing.TB) *slog.Logger {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testNode is a started Node, its context (cancelled: a crash) and its
// Apply hook's switch.
type testNode struct {
	*Node
	crash func()
	// fail makes Apply fail while set.
	fail atomic.Bool
	// applied counts successful Apply calls.
	applied atomic.Int64
}

// startNode starts a node and waits until it is Ready and its first
// heartbeat reached the broker, so a revoker counts it as live.
func startNode(t testing.TB, brokers []string, id string) *testNode {
	t.Helper()
	tn := startNodeNoWait(t, brokers, id)
	waitFor(t, "node "+id+" ready", func() bool {
		select {
		case <-tn.Ready():
			return true
		default:
			return false
		}
	})
	waitFor(t, "node "+id+" heartbeat", func() bool { return tn.Stats().Heartbeats > 0 })
	return tn
}

func startNodeNoWait(t testing.TB, brokers []string, id string) *testNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{crash: cancel}
	n, err := Start(ctx, NodeOptions{
		Brokers: brokers, ReplicaID: id, HeartbeatInterval: 500 * time.Millisecond, Logger: testLogger(t),
		Apply: func(_ context.Context, r Revocation) error {
			if tn.fail.Load() {
				return errors.New("cache invalidation failed (test)")
			}
			tn.applied.Add(1)
			return nil
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("start node %s: %v", id, err)
	}
	tn.Node = n
	t.Cleanup(func() { n.Stop(); cancel() })
	return tn
}

// waitFor polls cond every 5 ms for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func revokeOpts(brokers []string) RevokeOptions {
	return RevokeOptions{Brokers: brokers, Timeout: 3 * time.Second, LiveWithin: 1500 * time.Millisecond}
}

func userRevocation(user string) Revocation {
	return Revocation{Kind: KindUser, Subject: user, Reason: "offboarded", Source: SourceCLI, Issuer: "ops@example.com"}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
