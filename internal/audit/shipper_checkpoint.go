package audit

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// sign signs a checkpoint of the durable log if it grew since the last one.
// It is published by publishDue once Kafka holds every event it covers, so a
// reader of the topics never sees a checkpoint ahead of the events.
func (sh *Shipper) sign() {
	if sh.ckpts == nil {
		return
	}
	size, root, err := sh.opts.Spool.Head()
	if err != nil {
		sh.log.Error("audit shipper: log head", "err", err)
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if size == 0 || size == sh.lastSize {
		return
	}
	msg, err := SignCheckpoint(Checkpoint{Origin: Origin(sh.opts.Spool.InstanceID()), Size: size, Root: root}, sh.opts.Signer)
	if err != nil {
		sh.log.Error("audit shipper: sign checkpoint", "err", err)
		return
	}
	sh.lastSize = size
	sh.pending = append(sh.pending, pendingCheckpoint{size: size, msg: msg})
}

// publishDue publishes, in order, the signed checkpoints whose events are
// all shipped. One attempt per call: a failure is retried on the next loop,
// never holding up events.
func (sh *Shipper) publishDue(ctx context.Context) {
	if sh.ckpts == nil {
		return
	}
	shipped := sh.opts.Spool.Stats().Shipped
	sh.mu.Lock()
	var due []pendingCheckpoint
	for _, p := range sh.pending {
		if p.size > shipped {
			break
		}
		due = append(due, p)
	}
	sh.mu.Unlock()
	if len(due) == 0 {
		return
	}
	key := []byte(Origin(sh.opts.Spool.InstanceID()))
	msgs := make([]kafka.Message, len(due))
	for i, p := range due {
		msgs[i] = kafka.Message{Key: key, Value: p.msg}
	}
	if err := sh.ckpts.WriteMessages(ctx, msgs...); err != nil {
		sh.log.Warn("audit shipper: publishing checkpoints failed; will retry", "err", err)
		return
	}
	sh.mu.Lock()
	sh.pending = sh.pending[len(due):]
	sh.stats.Checkpoints += uint64(len(due))
	sh.mu.Unlock()
}

// finish signs a last checkpoint on shutdown and gives publishing two
// seconds; an unpublished one is signed again after a restart.
func (sh *Shipper) finish() {
	sh.sign()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sh.publishDue(ctx)
}
