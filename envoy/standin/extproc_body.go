package standin

import (
	"context"
	"sync"
	"time"
)

// pump reads a body source ahead into memory while a filter waits for an
// answer, like Envoy buffering data that arrives while a headers message
// is outstanding. It stops reading at limit bytes (a watermark, not an
// error) until the consumer takes data.
type pump struct {
	mu     sync.Mutex
	chunks [][]byte
	size   int
	eof    bool
	err    error
	limit  int
	wake   chan struct{}
	room   chan struct{}
}

func startPump(ctx context.Context, src bodySource, limit int) *pump {
	pm := &pump{limit: limit, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	go pm.run(ctx, src)
	return pm
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (pm *pump) run(ctx context.Context, src bodySource) {
	for {
		pm.mu.Lock()
		full := pm.size >= pm.limit
		pm.mu.Unlock()
		if full {
			select {
			case <-pm.room:
				continue
			case <-ctx.Done():
				return
			}
		}
		chunk, eof, err := src.next(ctx)
		pm.mu.Lock()
		if len(chunk) > 0 {
			pm.chunks = append(pm.chunks, chunk)
			pm.size += len(chunk)
		}
		pm.eof, pm.err = eof, err
		pm.mu.Unlock()
		signal(pm.wake)
		if eof || err != nil {
			return
		}
	}
}

// complete reports whether the whole body is already held.
func (pm *pump) complete() bool {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return pm.eof
}

func (pm *pump) next(ctx context.Context) ([]byte, bool, error) {
	for {
		pm.mu.Lock()
		if len(pm.chunks) > 0 {
			c := pm.chunks[0]
			pm.chunks = pm.chunks[1:]
			pm.size -= len(c)
			eof := pm.eof && len(pm.chunks) == 0
			pm.mu.Unlock()
			signal(pm.room)
			return c, eof, nil
		}
		eof, err := pm.eof, pm.err
		pm.mu.Unlock()
		if eof || err != nil {
			return nil, eof, err
		}
		select {
		case <-pm.wake:
		case <-ctx.Done():
			return nil, false, errStreamReset
		}
	}
}

// streamedBody is STREAMED mode: each chunk (re-cut by the ChunkSplitter)
// is sent as it arrives without waiting for earlier answers (Envoy
// pipelines), and each answer, in order, replaces or clears its chunk.
type streamedBody struct {
	f       *extProcFilter
	dir     direction
	src     bodySource
	queue   chan *queuedChunk
	started bool
	ended   bool
}

type queuedChunk struct {
	data      []byte
	eos       bool
	delivered bool // sent to the processor; its answer is due
	sentAt    time.Time
	err       error
}

func (b *streamedBody) next(ctx context.Context) ([]byte, bool, error) {
	if b.ended {
		return nil, true, nil
	}
	if !b.started {
		b.started = true
		b.queue = make(chan *queuedChunk, 4096)
		go b.send(ctx)
	}
	var q *queuedChunk
	select {
	case q = <-b.queue:
	case <-ctx.Done():
		return nil, false, errStreamReset
	}
	if q.err != nil {
		return nil, false, q.err
	}
	b.ended = q.eos
	if !q.delivered || b.f.complete.Load() {
		return q.data, q.eos, nil // processing ended: queued data continues unprocessed
	}
	data, lr := b.answer(ctx, q)
	if lr != nil {
		return nil, false, &localReplyError{lr: lr}
	}
	return data, q.eos, nil
}

func (b *streamedBody) answer(ctx context.Context, q *queuedChunk) ([]byte, *localReply) {
	ss := b.f.side
	ss.awaitMu.Lock()
	defer ss.awaitMu.Unlock()
	resp, lr := b.f.awaitAnswer(ctx, b.dir, kindBody, q.sentAt)
	if lr != nil {
		return nil, lr
	}
	if resp == nil {
		return q.data, nil
	}
	if bm := bodyResponseOf(b.dir, resp).GetResponse().GetBodyMutation(); bm != nil {
		return applyBodyMutation(q.data, bm), nil
	}
	return q.data, nil
}

// send reads the source and forwards every piece to the processor.
func (b *streamedBody) send(ctx context.Context) {
	split := b.f.s.p.opts.ChunkSplitter
	for {
		chunk, eof, err := b.src.next(ctx)
		if err != nil {
			b.push(ctx, &queuedChunk{err: err})
			return
		}
		var pieces [][]byte
		if len(chunk) > 0 {
			pieces = [][]byte{chunk}
			if split != nil {
				pieces = split(chunk)
			}
		}
		if eof && len(pieces) == 0 {
			pieces = [][]byte{{}}
		}
		for i, piece := range pieces {
			q := &queuedChunk{data: piece, eos: eof && i == len(pieces)-1}
			if !b.f.complete.Load() && b.f.side != nil {
				q.delivered, q.sentAt = true, time.Now()
				b.f.side.send(bodyMessage(b.dir, piece, q.eos))
			}
			if !b.push(ctx, q) {
				return
			}
		}
		if eof {
			return
		}
	}
}

func (b *streamedBody) push(ctx context.Context, q *queuedChunk) bool {
	select {
	case b.queue <- q:
		return true
	case <-ctx.Done():
		return false
	}
}
