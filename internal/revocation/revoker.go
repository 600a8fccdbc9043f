package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultRevokeTimeout is how long Revoke waits for confirmations.
const DefaultRevokeTimeout = 5 * time.Second

// Errors Revoke and Lift return with a Receipt: the record is published
// (and every replica that reads it will enforce it), but not every replica
// confirmed in time.
var (
	// ErrUnconfirmed: some live replicas did not acknowledge in time;
	// Receipt.Missing names them.
	ErrUnconfirmed = errors.New("not every live replica confirmed")
	// ErrNoReplicas: no replica was alive to confirm.
	ErrNoReplicas = errors.New("no live replica to confirm")
)

// RevokeOptions configure Revoke and Lift.
type RevokeOptions struct {
	Brokers []string
	// Topic and AckTopic as the nodes use them (defaults as NodeOptions).
	Topic, AckTopic string
	// Timeout bounds the wait for acknowledgements after publishing
	// (DefaultRevokeTimeout if zero).
	Timeout time.Duration
	// LiveWithin: a replica that sent a heartbeat or an ack this recently,
	// and has not announced leaving, must confirm (3 × the default
	// heartbeat interval if zero).
	LiveWithin time.Duration
	// FetchMaxWait as for NodeOptions.
	FetchMaxWait time.Duration
	// Logger receives the Kafka readers' errors; slog.Default() if nil.
	Logger *slog.Logger
}

// Receipt is what a Revoke or Lift achieved.
type Receipt struct {
	// ID of the published record.
	ID string
	// PublishedAt is when the record was sent (just before the broker
	// took it); zero if it was not published.
	PublishedAt time.Time
	// Live are the replicas that were alive just before publishing.
	Live []string
	// Confirmed holds, per replica that acknowledged, the time from
	// PublishedAt until this revoker read its ack (one clock, no skew).
	Confirmed map[string]time.Duration
	// Missing are the live replicas that did not acknowledge in time.
	Missing []string
	// Enforced is the longest of Confirmed: when the last replica confirmed.
	Enforced time.Duration
}

// Revoke publishes r as in force (Lifted false) and waits until every
// replica alive just before publishing has applied it, or Timeout. ID and
// At are filled in when empty. The error is nil only if every live replica
// confirmed; with ErrUnconfirmed or ErrNoReplicas the record is published
// and the Receipt says who confirmed. Revoking a revoked subject again is
// allowed (a new record, a new ID).
func Revoke(ctx context.Context, opts RevokeOptions, r Revocation) (Receipt, error) {
	r.Lifted = false
	return publish(ctx, opts, r)
}

// Lift publishes the end of the revocation of r's subject, as Revoke does.
// Tokens issued before the lift stay invalid (State.RevokedAt).
func Lift(ctx context.Context, opts RevokeOptions, r Revocation) (Receipt, error) {
	r.Lifted = true
	return publish(ctx, opts, r)
}

func (o *RevokeOptions) setDefaults() error {
	if len(o.Brokers) == 0 {
		return errors.New("revocation: no Kafka brokers")
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.AckTopic == "" {
		o.AckTopic = DefaultAckTopic
	}
	if o.Topic == o.AckTopic {
		return errors.New("revocation: the ack topic must differ from the revocation topic")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRevokeTimeout
	}
	if o.LiveWithin <= 0 {
		o.LiveWithin = 3 * DefaultHeartbeatInterval
	}
	if o.FetchMaxWait <= 0 {
		o.FetchMaxWait = DefaultFetchMaxWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func publish(ctx context.Context, o RevokeOptions, r Revocation) (Receipt, error) {
	if err := o.setDefaults(); err != nil {
		return Receipt{}, err
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	if err := r.Validate(); err != nil {
		return Receipt{}, err
	}
	value, err := r.encode()
	if err != nil {
		return Receipt{}, fmt.Errorf("revocation %s: %w", r.ID, err)
	}
	// Best effort: the nodes create the topics too, and a broker that
	// refuses makes the produce below fail with the reason.
	_ = EnsureTopics(ctx, o.Brokers, o.Topic, o.AckTopic)

	rc := Receipt{ID: r.ID, Confirmed: map[string]time.Duration{}}
	w, werr := watchAcks(ctx, o)
	if w != nil {
		defer w.close()
		rc.Live = w.live(time.Now(), o.LiveWithin)
	}
	wr := newWriter(o.Brokers, o.Topic)
	defer wr.Close()
	rc.PublishedAt = time.Now()
	if err := wr.WriteMessages(ctx, kafka.Message{Key: []byte(r.Key()), Value: value}); err != nil {
		return Receipt{ID: r.ID}, fmt.Errorf("revocation %s not published: %w", r.ID, err)
	}
	if werr != nil {
		rc.Missing = rc.Live
		return rc, fmt.Errorf("revocation %s published, but replicas cannot be confirmed: %w", r.ID, werr)
	}
	w.wait(ctx, r.ID, &rc, o.Timeout)
	return rc, rc.err()
}

func (rc *Receipt) err() error {
	switch {
	case len(rc.Missing) > 0:
		return fmt.Errorf("revocation %s published; %w: %d of %d did not (%s)", rc.ID, ErrUnconfirmed,
			len(rc.Missing), len(rc.Live), strings.Join(rc.Missing, ", "))
	case len(rc.Live) == 0 && len(rc.Confirmed) == 0:
		return fmt.Errorf("revocation %s published; %w", rc.ID, ErrNoReplicas)
	}
	return nil
}

// ackWatch reads the ack topic from LiveWithin ago: first up to its end,
// to learn which replicas are alive, then on, for the acks.
type ackWatch struct {
	cancel  context.CancelFunc
	readers []*kafka.Reader
	msgs    chan kafka.Message
	// last is each replica's latest record before publishing.
	last map[string]ackRecord
}

func watchAcks(ctx context.Context, o RevokeOptions) (*ackWatch, error) {
	since := time.Now().Add(-o.LiveWithin)
	parts, err := offsets(ctx, o.Brokers, o.AckTopic)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &ackWatch{cancel: cancel, msgs: make(chan kafka.Message, 256), last: map[string]ackRecord{}}
	pending := map[int]int64{} // partition → offset to read up to
	for _, p := range parts {
		r := newReader(o.Brokers, o.AckTopic, p.id, o.FetchMaxWait, o.Logger)
		w.readers = append(w.readers, r)
		if err := r.SetOffsetAt(ctx, since); err != nil {
			w.close()
			return nil, fmt.Errorf("topic %s/%d: offset at %s: %w", o.AckTopic, p.id, since.Format(time.RFC3339), err)
		}
		// Nothing since then: start at the end as it was, not as it will
		// be when the reader connects, or an early ack could be skipped.
		if start := r.Offset(); start < 0 || start >= p.next {
			if err := r.SetOffset(p.next); err != nil {
				w.close()
				return nil, err
			}
		} else {
			pending[p.id] = p.next
		}
	}
	tail(wctx, w.readers, w.msgs, o.Logger)
	if err := w.catchUp(ctx, pending, o.Timeout); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// catchUp reads every partition up to the offset in pending.
func (w *ackWatch) catchUp(ctx context.Context, pending map[int]int64, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("reading recent heartbeats took longer than %s", timeout)
		case m := <-w.msgs:
			if a, err := decodeAck(m.Value); err == nil {
				w.last[a.Replica] = a
			}
			if end, ok := pending[m.Partition]; ok && m.Offset+1 >= end {
				delete(pending, m.Partition)
			}
		}
	}
	return nil
}

// live are the replicas whose latest record is recent and not a goodbye.
func (w *ackWatch) live(now time.Time, within time.Duration) []string {
	var out []string
	for id, a := range w.last {
		if a.Type != ackLeaving && now.Sub(a.At) <= within {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// wait collects acks of id until every live replica confirmed or timeout.
// A live replica that announces leaving is no longer waited for.
func (w *ackWatch) wait(ctx context.Context, id string, rc *Receipt, timeout time.Duration) {
	waiting := map[string]bool{}
	for _, r := range rc.Live {
		waiting[r] = true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
loop:
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			break loop
		case m := <-w.msgs:
			a, err := decodeAck(m.Value)
			switch {
			case err != nil:
			case a.Type == ackApplied && a.Revocation == id:
				if _, dup := rc.Confirmed[a.Replica]; !dup {
					d := time.Since(rc.PublishedAt)
					rc.Confirmed[a.Replica] = d
					rc.Enforced = max(rc.Enforced, d)
				}
				delete(waiting, a.Replica)
			case a.Type == ackLeaving:
				delete(waiting, a.Replica)
			}
		}
	}
	for r := range waiting {
		rc.Missing = append(rc.Missing, r)
	}
	slices.Sort(rc.Missing)
}

// close stops the readers in the background: closing one waits for its
// fetch in flight (up to FetchMaxWait), which the caller need not.
func (w *ackWatch) close() {
	w.cancel()
	for _, r := range w.readers {
		go r.Close()
	}
}
