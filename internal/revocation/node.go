package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultHeartbeatInterval is how often a Node says it is alive.
const DefaultHeartbeatInterval = 2 * time.Second

// DefaultFetchMaxWait bounds an idle fetch. A record is delivered as soon
// as the broker has it whatever this is; it only bounds how long a reader
// waits before it notices a dead connection or a new leader.
const DefaultFetchMaxWait = 50 * time.Millisecond

// ackRecent: records read while catching up are acknowledged only if they
// are this young — a revoker may still be waiting for a replica that
// restarted just as the record was published — so a restart does not
// re-acknowledge the whole topic.
const ackRecent = 2 * time.Minute

// NodeOptions configure Start.
type NodeOptions struct {
	Brokers []string
	// Topic holds the revocations (DefaultTopic if empty); AckTopic the
	// acks and heartbeats (DefaultAckTopic if empty).
	Topic, AckTopic string
	// ReplicaID names this gateway process in acks (a pod name). Required;
	// unique among the replicas that share the topics.
	ReplicaID string
	// State receives every record; a new one if nil.
	State *State
	// Apply is called for every record once State shows it, in topic
	// order: drop token and authz caches, end the subject's streams. An
	// error is retried with backoff and the record is not acknowledged
	// until Apply succeeds; a later record of the same subject supersedes
	// the retry. Nil: State is all there is to update.
	Apply func(ctx context.Context, r Revocation) error
	// HeartbeatInterval (DefaultHeartbeatInterval if zero).
	HeartbeatInterval time.Duration
	// FetchMaxWait (DefaultFetchMaxWait if zero).
	FetchMaxWait time.Duration
	Logger       *slog.Logger
}

// NodeStats are counters for metrics and tests.
type NodeStats struct {
	// Records read and put into State; Malformed ones refused.
	Records, Malformed uint64
	// ApplyFailures counts failed Apply calls, retries included.
	ApplyFailures uint64
	// Acks and Heartbeats produced; AckFailures not produced.
	Acks, Heartbeats, AckFailures uint64
	// LastHeartbeat is when the broker last took a heartbeat: a replica
	// whose LastHeartbeat is old is cut off from revocations.
	LastHeartbeat time.Time
}

// Node keeps one gateway process's State in step with the revocation
// topic and acknowledges each record it applied.
type Node struct {
	opts   NodeOptions
	log    *slog.Logger
	state  *State
	ready  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// readersDone is closed once the readers are closed.
	readersDone chan struct{}
	writer      *kafka.Writer
	acks        chan ackRecord
	stopOnce    sync.Once

	// caughtUp[p] is the offset partition p must reach for Ready; only the
	// processing goroutine touches it.
	caughtUp map[int]int64

	mu     sync.Mutex
	latest map[string]string // key → id of the latest record, for retries

	records, malformed, applyFailures, ackCount, heartbeats, ackFailures atomic.Uint64
	lastHeartbeat                                                        atomic.Int64 // unix nanoseconds
}

// Start reads the revocation topic from its first offset into State, then
// tails it; Ready is closed once State holds every record that was in the
// topic when Start was called. It returns once the topic's offsets are
// known. The node runs until ctx ends — then it stops as a crash would,
// and revokers count it as live until its last heartbeat ages out — or
// until Stop.
func Start(ctx context.Context, opts NodeOptions) (*Node, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := EnsureTopics(ctx, opts.Brokers, opts.Topic, opts.AckTopic); err != nil {
		opts.Logger.Warn("revocation: could not create topics; using them as they are", "err", err)
	}
	parts, err := offsets(ctx, opts.Brokers, opts.Topic)
	if err != nil {
		return nil, fmt.Errorf("revocation node %s: %w", opts.ReplicaID, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	n := &Node{
		opts: opts, log: opts.Logger, state: opts.State, ready: make(chan struct{}), cancel: cancel,
		readersDone: make(chan struct{}), writer: newWriter(opts.Brokers, opts.AckTopic),
		acks: make(chan ackRecord, 1024), caughtUp: map[int]int64{}, latest: map[string]string{},
	}
	readers := make([]*kafka.Reader, 0, len(parts))
	for _, p := range parts {
		r := newReader(opts.Brokers, opts.Topic, p.id, opts.FetchMaxWait, n.log)
		if err := r.SetOffset(p.first); err != nil {
			cancel()
			return nil, fmt.Errorf("revocation node: %w", err)
		}
		readers = append(readers, r)
		if p.next > p.first {
			n.caughtUp[p.id] = p.next
		}
	}
	n.markReady() // an empty topic: ready at once
	msgs := make(chan kafka.Message, 1024)
	tail(runCtx, readers, msgs, n.log)
	go func() {
		<-runCtx.Done()
		for _, r := range readers {
			_ = r.Close()
		}
		close(n.readersDone)
	}()
	n.wg.Add(3)
	go n.process(runCtx, msgs)
	go n.ship(runCtx)
	go n.heartbeat(runCtx)
	return n, nil
}

func (o *NodeOptions) setDefaults() error {
	if len(o.Brokers) == 0 {
		return errors.New("revocation node: no Kafka brokers")
	}
	if err := checkReplicaID(o.ReplicaID); err != nil {
		return err
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.AckTopic == "" {
		o.AckTopic = DefaultAckTopic
	}
	if o.Topic == o.AckTopic {
		return errors.New("revocation node: the ack topic must differ from the revocation topic")
	}
	if o.State == nil {
		o.State = NewState()
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.FetchMaxWait <= 0 {
		o.FetchMaxWait = DefaultFetchMaxWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// State is the node's State.
func (n *Node) State() *State { return n.state }

// Ready is closed once State holds every record that was in the topic
// when Start was called. Do not serve before: a revocation in force could
// be missing.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// ReplicaID is the id the node acknowledges under.
func (n *Node) ReplicaID() string { return n.opts.ReplicaID }

// Stop stops reading, tells revokers not to wait for this replica, and
// returns once everything is closed. Stop the node last, after the
// services stopped taking requests: a replica that still serves but no
// longer reads revocations would not enforce new ones.
func (n *Node) Stop() {
	n.stop(true)
}

func (n *Node) stop(leaving bool) {
	n.stopOnce.Do(func() {
		n.cancel()
		n.wg.Wait()
		<-n.readersDone
		if leaving {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			rec := ackRecord{Type: ackLeaving, Replica: n.opts.ReplicaID, At: time.Now()}
			if err := n.writer.WriteMessages(ctx, kafka.Message{Key: []byte(rec.Replica), Value: rec.encode()}); err != nil {
				n.log.Warn("revocation: could not announce leaving; revokers will wait for this replica until its heartbeat ages out", "err", err)
			}
			cancel()
		}
		_ = n.writer.Close()
	})
}

// Stats returns the counters.
func (n *Node) Stats() NodeStats {
	s := NodeStats{
		Records: n.records.Load(), Malformed: n.malformed.Load(), ApplyFailures: n.applyFailures.Load(),
		Acks: n.ackCount.Load(), Heartbeats: n.heartbeats.Load(), AckFailures: n.ackFailures.Load(),
	}
	if ns := n.lastHeartbeat.Load(); ns != 0 {
		s.LastHeartbeat = time.Unix(0, ns)
	}
	return s
}

// markReady closes ready once every partition has been read up to where
// it ended at Start. Only Start (before the processing goroutine runs) and
// the processing goroutine call it.
func (n *Node) markReady() {
	select {
	case <-n.ready:
		return
	default:
	}
	if len(n.caughtUp) == 0 {
		close(n.ready)
		n.log.Info("revocation node ready", "replica", n.opts.ReplicaID, "subjects", n.state.Len(),
			"in_force", len(n.state.InForce()))
	}
}

// process applies records in topic order. Whatever is already buffered is
// taken as one batch: State shows the batch at once, so catching up on a
// long topic copies the State's map once per batch, not once per record.
func (n *Node) process(ctx context.Context, msgs <-chan kafka.Message) {
	defer n.wg.Done()
	batch := make([]kafka.Message, 0, 1024)
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			batch = append(batch[:0], m)
		}
	drain:
		for len(batch) < cap(batch) {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		n.applyBatch(ctx, batch)
	}
}

func (n *Node) applyBatch(ctx context.Context, batch []kafka.Message) {
	recs := make([]Revocation, 0, len(batch))
	acks := make([]bool, 0, len(batch))
	for _, m := range batch {
		if end, ok := n.caughtUp[m.Partition]; ok && m.Offset+1 >= end {
			delete(n.caughtUp, m.Partition)
		}
		r, err := decodeRecord(m.Key, m.Value)
		if err != nil {
			n.malformed.Add(1)
			n.log.Error("revocation: record refused; it is not enforced", "partition", m.Partition, "offset", m.Offset, "err", err)
			continue
		}
		n.state.stage(r)
		recs = append(recs, r)
		acks = append(acks, n.isReady() || time.Since(m.Time) < ackRecent)
	}
	n.state.publish()
	n.records.Add(uint64(len(recs)))
	n.mu.Lock()
	for _, r := range recs {
		n.latest[r.Key()] = r.ID
	}
	n.mu.Unlock()
	for i, r := range recs {
		n.apply(ctx, r, acks[i])
	}
	n.markReady()
}

func (n *Node) isReady() bool {
	select {
	case <-n.ready:
		return true
	default:
		return false
	}
}

// apply calls the Apply hook and queues the ack; a failure is retried in
// the background so later records are not held up behind it.
func (n *Node) apply(ctx context.Context, r Revocation, ack bool) {
	if err := n.callApply(ctx, r); err != nil {
		n.wg.Add(1)
		go n.retry(ctx, r, ack, err)
		return
	}
	if ack {
		n.queueAck(r)
	}
}

func (n *Node) callApply(ctx context.Context, r Revocation) error {
	if n.opts.Apply == nil {
		return nil
	}
	err := n.opts.Apply(ctx, r)
	if err != nil {
		n.applyFailures.Add(1)
	}
	return err
}

// retry calls Apply with backoff until it succeeds, a later record of the
// same subject supersedes r, or the node stops.
func (n *Node) retry(ctx context.Context, r Revocation, ack bool, err error) {
	defer n.wg.Done()
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if attempt == 1 || attempt%10 == 0 {
			n.log.Warn("revocation: apply hook failed; not acknowledged, retrying", "replica", n.opts.ReplicaID,
				"revocation", r.ID, "kind", r.Kind, "attempt", attempt, "err", err)
		}
		if !sleepCtx(ctx, backoff+rand.N(backoff/4+1)) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
		if !n.isLatest(r) {
			n.log.Info("revocation: superseded by a later record; retry abandoned", "revocation", r.ID)
			return
		}
		if err = n.callApply(ctx, r); err == nil {
			n.log.Info("revocation: apply hook succeeded after retries", "revocation", r.ID, "attempts", attempt+1)
			if ack {
				n.queueAck(r)
			}
			return
		}
	}
}

func (n *Node) isLatest(r Revocation) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.latest[r.Key()] == r.ID
}

func (n *Node) queueAck(r Revocation) {
	rec := ackRecord{Type: ackApplied, Replica: n.opts.ReplicaID, Revocation: r.ID, At: time.Now()}
	select {
	case n.acks <- rec:
	default:
		n.ackFailures.Add(1)
		n.log.Warn("revocation: ack queue full; ack dropped", "revocation", r.ID)
	}
}

// heartbeat says the replica is alive, from Ready on: a replica still
// catching up is not yet serving, so no revoker should wait for it.
func (n *Node) heartbeat(ctx context.Context) {
	defer n.wg.Done()
	select {
	case <-ctx.Done():
		return
	case <-n.ready:
	}
	t := time.NewTicker(n.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case n.acks <- ackRecord{Type: ackHeartbeat, Replica: n.opts.ReplicaID, At: time.Now()}:
		default: // the queue is full of acks, which prove liveness as well
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ship produces acks and heartbeats, whatever is queued in one request.
func (n *Node) ship(ctx context.Context) {
	defer n.wg.Done()
	for {
		var batch []ackRecord
		select {
		case <-ctx.Done():
			return
		case a := <-n.acks:
			batch = append(batch, a)
		}
	drain:
		for len(batch) < 256 {
			select {
			case a := <-n.acks:
				batch = append(batch, a)
			default:
				break drain
			}
		}
		n.produce(ctx, batch)
	}
}

func (n *Node) produce(ctx context.Context, batch []ackRecord) {
	msgs := make([]kafka.Message, len(batch))
	for i, a := range batch {
		msgs[i] = kafka.Message{Key: []byte(a.Replica), Value: a.encode()}
	}
	var err error
	for attempt := range 3 {
		if attempt > 0 && !sleepCtx(ctx, time.Duration(attempt)*100*time.Millisecond) {
			break
		}
		if err = n.writer.WriteMessages(ctx, msgs...); err == nil {
			break
		}
	}
	if err != nil {
		n.ackFailures.Add(uint64(len(batch)))
		if ctx.Err() == nil {
			n.log.Warn("revocation: could not produce acks", "replica", n.opts.ReplicaID, "records", len(batch), "err", err)
		}
		return
	}
	for _, a := range batch {
		if a.Type == ackHeartbeat {
			n.heartbeats.Add(1)
			n.lastHeartbeat.Store(time.Now().UnixNano())
		} else {
			n.ackCount.Add(1)
		}
	}
}
