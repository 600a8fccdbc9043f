package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devenv"
)

func benchBroker(b *testing.B) *devenv.Kafka {
	b.Helper()
	k, err := devenv.StartKafka(b.Context(), devenv.KafkaOptions{Topics: []string{testTopic, testCkTopic}, Partitions: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(k.Stop)
	return k
}

func benchShipper(b *testing.B, s *Spool, k *devenv.Kafka) (stop func()) {
	b.Helper()
	key := newTestKey(b, s.InstanceID())
	sh, err := NewShipper(ShipperOptions{Spool: s, Brokers: k.Brokers, Topic: testTopic, CheckpointTopic: testCkTopic,
		Signer: key.signer, CheckpointInterval: time.Second, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sh.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func waitShipped(b *testing.B, s *Spool, n uint64) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for s.Stats().Shipped < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d events shipped", s.Stats().Shipped, n)
		}
		time.Sleep(time.Millisecond) // polling a counter in a benchmark; no readiness involved
	}
}

// BenchmarkAppendToBrokerAck is the sustained rate from the decision path
// to Kafka: 64 callers Append (durable group commit) while the shipper
// produces with acks=all to the in-process Kafka-protocol broker; the clock
// stops when the broker has acknowledged the last event.
func BenchmarkAppendToBrokerAck(b *testing.B) {
	k := benchBroker(b)
	s, err := OpenSpool(SpoolOptions{Dir: b.TempDir(), InstanceID: "bench-e2e", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	stop := benchShipper(b, s, k)
	defer stop()
	proto := sampleEvent(b, 1)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				ev := *proto
				ev.ID = ""
				if err := s.Append(&ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitShipped(b, s, uint64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBacklogDrain is how fast a backlog spooled during a Kafka outage
// reaches the broker once it is back (nothing else running).
func BenchmarkBacklogDrain(b *testing.B) {
	k := benchBroker(b)
	s, err := OpenSpool(SpoolOptions{Dir: b.TempDir(), InstanceID: "bench-drain", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	proto := sampleEvent(b, 1)
	for range b.N {
		ev := *proto
		ev.ID = ""
		if err := s.AppendAsync(&ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Append(&Event{ID: NewEventID(), Time: time.Now()}); err != nil { // waits for every earlier write's fsync
		b.Fatal(err)
	}
	b.ResetTimer()
	stop := benchShipper(b, s, k)
	defer stop()
	waitShipped(b, s, uint64(b.N)+1)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSpoolRecovery is the rate at which OpenSpool reads back and
// checks (CRC, hash chain, Merkle range) a spool left by a crash.
func BenchmarkSpoolRecovery(b *testing.B) {
	dir := b.TempDir()
	s, err := OpenSpool(SpoolOptions{Dir: dir, InstanceID: "bench-rec", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	proto := sampleEvent(b, 1)
	for range n {
		ev := *proto
		ev.ID = ""
		if err := s.AppendAsync(&ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		s, err := OpenSpool(SpoolOptions{Dir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if st := s.Stats(); st.Recovered != n {
			b.Fatalf("recovered %d of %d", st.Recovered, n)
		}
		s.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
