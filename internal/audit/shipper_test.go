package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/actiongate/actiongate/internal/devenv"
)

const (
	testTopic   = "actiongate.audit"
	testCkTopic = "actiongate.audit.checkpoints"
)

// broker is a real Kafka-protocol broker (kfake) on a fixed loopback port,
// persisting to dataDir so a restart on the same port keeps the topics.
type broker struct {
	port    int
	dataDir string
	c       *kfake.Cluster
	addr    string
}

func startBroker(t *testing.T, port int, dataDir string) *broker {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dataDir),
		kfake.SeedTopics(3, testTopic), kfake.SeedTopics(1, testCkTopic))
	if err != nil {
		t.Fatalf("start broker on port %d: %v", port, err)
	}
	b := &broker{port: port, dataDir: dataDir, c: c, addr: c.ListenAddrs()[0]}
	t.Cleanup(b.stop)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	waitFor(t, ctx, "broker ready", func() bool { return devenv.PingKafka(ctx, []string{b.addr}) == nil })
	return b
}

func (b *broker) stop() { b.c.Close() }

func newBroker(t *testing.T) *broker {
	t.Helper()
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return startBroker(t, port, t.TempDir())
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type runningShipper struct {
	*Shipper
	cancel context.CancelFunc
	done   chan error
}

func runShipper(t *testing.T, s *Spool, b *broker, key testKey) *runningShipper {
	t.Helper()
	sh, err := NewShipper(ShipperOptions{Spool: s, Brokers: []string{b.addr}, Topic: testTopic,
		CheckpointTopic: testCkTopic, Signer: key.signer, CheckpointInterval: 200 * time.Millisecond,
		BatchSize: 128, MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningShipper{Shipper: sh, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- sh.Run(ctx) }()
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

func (rs *runningShipper) stop(t *testing.T) {
	rs.cancel()
	select {
	case err := <-rs.done:
		if err != nil {
			t.Errorf("shipper: %v", err)
		}
		rs.done <- nil // later stops return at once
	case <-time.After(15 * time.Second):
		t.Error("shipper did not stop")
	}
}

// appendConcurrently appends n events from 8 goroutines and returns their ids.
func appendConcurrently(t *testing.T, s *Spool, from, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				ev := sampleEvent(t, from+i)
				if err := s.Append(ev); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				ids[i] = ev.ID
			}
		})
	}
	wg.Wait()
	return ids
}

// readAll reads both topics and checks every sent id arrived; it returns
// the entries, the checkpoints and how many deliveries were duplicates.
func readAll(t *testing.T, ctx context.Context, b *broker, sent []string) ([]Entry, []SignedCheckpoint, int) {
	t.Helper()
	entries, err := ReadEvents(ctx, []string{b.addr}, testTopic)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := ReadCheckpoints(ctx, []string{b.addr}, testCkTopic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range entries {
		var ev Event
		if err := json.Unmarshal(e.Raw, &ev); err != nil {
			t.Fatalf("%s: %v", e.Where, err)
		}
		if e.Problem != "" {
			t.Fatalf("%s: %s", e.Where, e.Problem)
		}
		got[ev.ID]++
	}
	var missing []string
	for _, id := range sent {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 || len(got) != len(sent) {
		t.Fatalf("sent %d events, received %d distinct; %d missing (e.g. %v)", len(sent), len(got), len(missing),
			missing[:min(3, len(missing))])
	}
	return entries, cps, len(entries) - len(got)
}

func verifyTopics(t *testing.T, entries []Entry, cps []SignedCheckpoint, key testKey, size uint64) {
	t.Helper()
	r := Verify(entries, cps, key.verifiers)
	if !r.OK() || len(r.Instances) != 1 || r.Instances[0].VerifiedSize != size {
		t.Fatalf("topics do not verify to size %d: %s %+v %q", size, problems(r.Problems), r.Instances, r.Warnings)
	}
}

// TestShipper_SurvivesBrokerOutage stops the broker, keeps appending, and
// restarts a broker on the same port: every event arrives, in per-key
// order, and the checkpoints verify.
func TestShipper_SurvivesBrokerOutage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	b := newBroker(t)
	key := newTestKey(t, "gw-ship")
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-ship"})
	sh := runShipper(t, s, b, key)

	sent := appendConcurrently(t, s, 0, 300)
	waitFor(t, ctx, "first 300 shipped", func() bool { return s.Stats().Shipped == 300 })
	sh.Checkpoint()
	waitFor(t, ctx, "checkpoint of size 300", func() bool { return publishedSize(ctx, b, key) == 300 })

	b.stop()
	sent = append(sent, appendConcurrently(t, s, 300, 300)...) // the spool takes them while Kafka is down
	waitFor(t, ctx, "shipper to retry", func() bool { return sh.Stats().Retries > 2 })
	if st := s.Stats(); st.Shipped != 300 || st.Durable != 600 {
		t.Fatalf("during the outage: %+v", st)
	}

	b = startBroker(t, b.port, b.dataDir)
	waitFor(t, ctx, "backlog shipped", func() bool { return s.Stats().Shipped == 600 })
	sh.Checkpoint()
	waitFor(t, ctx, "checkpoint of size 600", func() bool { return publishedSize(ctx, b, key) == 600 })

	entries, cps, dups := readAll(t, ctx, b, sent)
	verifyTopics(t, entries, cps, key, 600)
	t.Logf("600 events across a broker outage: all arrived, %d duplicate deliveries (dropped by id), %d retries, %d checkpoints",
		dups, sh.Stats().Retries, len(cps))
}

// publishedSize is the largest size of a verified checkpoint in the topic.
func publishedSize(ctx context.Context, b *broker, key testKey) uint64 {
	cps, err := ReadCheckpoints(ctx, []string{b.addr}, testCkTopic)
	if err != nil {
		return 0
	}
	var size uint64
	for _, c := range cps {
		if cp, err := OpenCheckpoint(c.Note, key.verifiers); err == nil {
			size = max(size, cp.Size)
		}
	}
	return size
}

// TestShipper_GatewayRestartMidLoad stops the shipper and closes the spool
// while events are being shipped, reopens both, and finds every event.
func TestShipper_GatewayRestartMidLoad(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := newBroker(t)
	key := newTestKey(t, "gw-restart")
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-restart"})
	sh := runShipper(t, s, b, key)
	var sent []string
	for round := range 10 {
		sent = append(sent, appendConcurrently(t, s, round*100, 100)...)
		if s.Stats().Shipped > 0 {
			break
		}
	}
	sh.stop(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openSpool(t, dir, SpoolOptions{})
	st := s2.Stats()
	if st.Next != uint64(len(sent)) {
		t.Fatalf("reopened spool holds %d events, %d were appended", st.Next, len(sent))
	}
	sh2 := runShipper(t, s2, b, key)
	sent = append(sent, appendConcurrently(t, s2, 5000, 50)...)
	total := uint64(len(sent))
	waitFor(t, ctx, "all shipped", func() bool { return s2.Stats().Shipped == total })
	sh2.Checkpoint()
	waitFor(t, ctx, "final checkpoint", func() bool { return publishedSize(ctx, b, key) == total })
	entries, cps, dups := readAll(t, ctx, b, sent)
	verifyTopics(t, entries, cps, key, total)
	t.Logf("restart after %d of %d shipped: all %d arrived, %d duplicates", st.Shipped, st.Next, total, dups)
}

// TestShipper_FullSpoolUntilBrokerReturns fills a small spool while Kafka is
// down (Append refuses with ErrSpoolFull: the gateway denies mutating calls)
// and accepts events again once the backlog is shipped.
func TestShipper_FullSpoolUntilBrokerReturns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := newBroker(t)
	b.stop()
	key := newTestKey(t, "gw-fill")
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-fill", MaxBytes: 64 << 10, SegmentBytes: 8 << 10})
	runShipper(t, s, b, key)
	var sent []string
	for i := 0; ; i++ {
		ev := sampleEvent(t, i)
		err := s.Append(ev)
		if errors.Is(err, ErrSpoolFull) {
			break
		}
		if err != nil || i > 10000 {
			t.Fatalf("append %d: %v", i, err)
		}
		sent = append(sent, ev.ID)
	}
	b = startBroker(t, b.port, b.dataDir)
	waitFor(t, ctx, "spool drained", func() bool { return s.Stats().Shipped == uint64(len(sent)) })
	if st := s.Stats(); st.Segments != 1 || st.Bytes > 8<<10 {
		t.Fatalf("shipped segments not deleted: %+v", st)
	}
	ev := sampleEvent(t, len(sent))
	if err := s.Append(ev); err != nil {
		t.Fatalf("append after the backlog shipped: %v", err)
	}
	sent = append(sent, ev.ID)
	waitFor(t, ctx, "last shipped", func() bool { return s.Stats().Shipped == uint64(len(sent)) })
	readAll(t, ctx, b, sent)
	t.Logf("spool full after %d events; all delivered after the broker returned", len(sent)-1)
}

func TestNewShipper_RequiresKeyForCheckpoints(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), SpoolOptions{})
	_, err := NewShipper(ShipperOptions{Spool: s, Brokers: []string{"127.0.0.1:1"}, Topic: "t", CheckpointTopic: "c"})
	if err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Fatalf("err %v", err)
	}
	if _, err := NewShipper(ShipperOptions{Spool: s, Topic: "t"}); err == nil {
		t.Fatal("shipper without brokers")
	}
}
