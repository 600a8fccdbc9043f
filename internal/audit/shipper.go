package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/mod/sumdb/note"
)

// NoTenantKey is the Kafka key of events without a tenant (calls refused
// before identity was established), so they too stay in order.
const NoTenantKey = "_none"

// ShipperOptions configure NewShipper.
type ShipperOptions struct {
	Spool   *Spool
	Brokers []string
	// Topic receives the events (key = tenant); CheckpointTopic the signed
	// checkpoints (key = origin). No CheckpointTopic: no checkpoints.
	Topic, CheckpointTopic string
	// Signer is the instance's note key; required with CheckpointTopic.
	Signer note.Signer
	// CheckpointInterval between periodic checkpoints (default 5 s; only
	// when the log grew).
	CheckpointInterval time.Duration
	// BatchSize and BatchBytes bound one produce call (defaults 500 events,
	// 768 KiB), small enough that a partition's share is one Kafka batch, so
	// a retry never reorders a key.
	BatchSize  int
	BatchBytes int
	// MinBackoff and MaxBackoff bound the retry delay (100 ms, 5 s).
	MinBackoff, MaxBackoff time.Duration
	// AutoCreateTopics lets the broker create missing topics (tests, dev).
	AutoCreateTopics bool
	Logger           *slog.Logger
}

// ShipperStats are counters for metrics and tests.
type ShipperStats struct {
	Shipped, Batches, Retries, Checkpoints uint64
	LastError                              string
}

// Shipper moves durable events from the spool to Kafka, acknowledging the
// spool only after the broker acknowledged (acks=all). Delivery is
// at-least-once: a produce that timed out after the broker stored it is sent
// again, and consumers drop the duplicate by event id.
type Shipper struct {
	opts   ShipperOptions
	log    *slog.Logger
	events *kafka.Writer
	ckpts  *kafka.Writer
	ckReq  chan struct{}

	mu       sync.Mutex
	stats    ShipperStats
	pending  []pendingCheckpoint
	lastSize uint64
}

type pendingCheckpoint struct {
	size uint64
	msg  []byte
}

// NewShipper checks the options and builds the Kafka writers.
func NewShipper(o ShipperOptions) (*Shipper, error) {
	if o.Spool == nil || len(o.Brokers) == 0 || o.Topic == "" {
		return nil, errors.New("audit shipper: spool, brokers and topic are required")
	}
	if o.CheckpointTopic != "" && o.Signer == nil {
		return nil, errors.New("audit shipper: a checkpoint topic needs a signing key")
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 5 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 768 << 10
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	sh := &Shipper{opts: o, log: o.Logger, ckReq: make(chan struct{}, 1), events: o.writer(o.Topic)}
	if o.CheckpointTopic != "" {
		sh.ckpts = o.writer(o.CheckpointTopic)
	}
	return sh, nil
}

func (o ShipperOptions) writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(o.Brokers...),
		Topic:                  topic,
		Balancer:               kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks:           kafka.RequireAll,
		MaxAttempts:            1, // the shipper retries, with backoff, forever
		BatchSize:              o.BatchSize,
		BatchBytes:             1 << 20,
		BatchTimeout:           time.Millisecond,
		WriteTimeout:           10 * time.Second,
		AllowAutoTopicCreation: o.AutoCreateTopics,
	}
}

// Checkpoint asks for a checkpoint now (it is published once the events it
// covers are in Kafka).
func (sh *Shipper) Checkpoint() {
	select {
	case sh.ckReq <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (sh *Shipper) Stats() ShipperStats {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.stats
}

// Run ships until ctx ends, then signs a last checkpoint and tries briefly
// to publish it. It returns an error only if the spool cannot be read.
func (sh *Shipper) Run(ctx context.Context) error {
	defer sh.events.Close()
	if sh.ckpts != nil {
		defer sh.ckpts.Close()
	}
	cur := sh.opts.Spool.Cursor(sh.opts.Spool.Stats().Shipped)
	defer cur.Close()
	tick := time.NewTicker(sh.opts.CheckpointInterval)
	defer tick.Stop()
	for {
		recs, err := sh.nextBatch(cur)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			if err := sh.ship(ctx, recs); err != nil {
				if ctx.Err() != nil {
					sh.finish()
					return nil
				}
				return err
			}
		}
		// Under sustained load the loop never idles, so checkpoint requests
		// are polled here as well as waited for below.
		select {
		case <-tick.C:
			sh.sign()
		case <-sh.ckReq:
			sh.sign()
		default:
		}
		sh.publishDue(ctx)
		if len(recs) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			sh.finish()
			return nil
		case <-sh.opts.Spool.Durable():
		case <-tick.C:
			sh.sign()
		case <-sh.ckReq:
			sh.sign()
		}
	}
}

// nextBatch reads up to BatchSize events, stopping early at BatchBytes.
func (sh *Shipper) nextBatch(cur *Cursor) ([]Record, error) {
	var out []Record
	size := 0
	for len(out) < sh.opts.BatchSize && size < sh.opts.BatchBytes {
		n := min(64, sh.opts.BatchSize-len(out))
		recs, err := cur.Next(n)
		out = append(out, recs...)
		for _, r := range recs {
			size += 2 * len(r.Canonical) // the OTLP value carries it as body and attributes
		}
		if err != nil {
			return out, err
		}
		if len(recs) < n {
			break
		}
	}
	return out, nil
}

// ship produces one batch until the broker acknowledges all of it, then
// acknowledges the spool. Only ctx ends the retries.
func (sh *Shipper) ship(ctx context.Context, recs []Record) error {
	msgs, err := encodeMessages(recs)
	if err != nil {
		return sh.fatal(err)
	}
	backoff := sh.opts.MinBackoff
	for pending := msgs; len(pending) > 0; {
		err := sh.events.WriteMessages(ctx, pending...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pending = failedOnly(pending, err)
		sh.noteRetry(err, len(pending), backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, sh.opts.MaxBackoff)
	}
	last := recs[len(recs)-1].Seq
	if err := sh.opts.Spool.Ack(last); err != nil {
		sh.log.Error("audit shipper: spool ack failed; events may be shipped again", "err", err)
	}
	sh.mu.Lock()
	sh.stats.Shipped += uint64(len(recs))
	sh.stats.Batches++
	sh.mu.Unlock()
	return nil
}

// fatal is a record the spool holds but cannot be encoded: a bug, logged
// and retried forever rather than skipped (skipping would open a gap).
func (sh *Shipper) fatal(err error) error {
	sh.log.Error("audit shipper: cannot encode a spooled event", "err", err)
	sh.mu.Lock()
	sh.stats.LastError = err.Error()
	sh.mu.Unlock()
	return err
}

func encodeMessages(recs []Record) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		ev := r.Event
		if ev == nil { // read back from disk: after a restart or a long outage
			ev = new(Event)
			if err := json.Unmarshal(r.Canonical, ev); err != nil {
				return nil, fmt.Errorf("seq %d: %w", r.Seq, err)
			}
		}
		v, err := OTLPRecord(ev, r.Canonical)
		if err != nil {
			return nil, fmt.Errorf("seq %d: %w", r.Seq, err)
		}
		key := ev.Tenant
		if key == "" {
			key = NoTenantKey
		}
		msgs[i] = kafka.Message{Key: []byte(key), Value: v}
	}
	return msgs, nil
}

// failedOnly keeps the messages a partial failure did not deliver. Each
// partition's share was one batch, so what failed for a key is a suffix of
// what was sent for it, and resending it keeps the key's order.
func failedOnly(msgs []kafka.Message, err error) []kafka.Message {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		return msgs
	}
	var out []kafka.Message
	for i, e := range werrs {
		if e != nil {
			out = append(out, msgs[i])
		}
	}
	return out
}

func (sh *Shipper) noteRetry(err error, n int, backoff time.Duration) {
	sh.mu.Lock()
	sh.stats.Retries++
	sh.stats.LastError = err.Error()
	first := sh.stats.Retries == 1 || backoff < sh.opts.MaxBackoff
	sh.mu.Unlock()
	if first {
		sh.log.Warn("audit shipper: Kafka produce failed; retrying", "events", n, "backoff", backoff, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	d += rand.N(d/4 + 1) // jitter, so instances do not retry in step
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Default topic names.
const (
	DefaultTopic           = "actiongate.audit"
	DefaultCheckpointTopic = "actiongate.audit.checkpoints"
)
