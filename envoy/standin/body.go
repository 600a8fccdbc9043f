package standin

import (
	"context"
	"io"
	"sync"
	"time"
)

// bodySource yields a body piece by piece, the way Envoy's filters see data
// frames. eof reports the end of the body (the chunk may still carry
// bytes). A non-nil error is a *localReplyError or a reset.
type bodySource interface {
	next(ctx context.Context) (chunk []byte, eof bool, err error)
}

// request and response are what flows through the filter chain; a nil body
// means the message ended with its headers (end_stream on headers).
type request struct {
	headers *headerMap
	body    bodySource
}

type response struct {
	headers *headerMap
	body    bodySource
	local   bool // a local reply, not an upstream response
}

type bytesBody struct {
	data []byte
	done bool
}

func (b *bytesBody) next(context.Context) ([]byte, bool, error) {
	if b.done {
		return nil, true, nil
	}
	b.done = true
	return b.data, true, nil
}

// prefixedBody replays already-read bytes before the rest of a source.
type prefixedBody struct {
	pre  []byte
	eof  bool // the source had ended when pre was read
	rest bodySource
	used bool
}

func (b *prefixedBody) next(ctx context.Context) ([]byte, bool, error) {
	if !b.used {
		b.used = true
		if b.eof || len(b.pre) > 0 {
			return b.pre, b.eof, nil
		}
	}
	if b.eof {
		return nil, true, nil
	}
	return b.rest.next(ctx)
}

func replay(data []byte, eof bool, rest bodySource) bodySource {
	if eof {
		return &bytesBody{data: data}
	}
	return &prefixedBody{pre: data, rest: rest}
}

// collect reads src until it ends or at least stopAt bytes are held
// (stopAt <= 0: until it ends).
func collect(ctx context.Context, src bodySource, stopAt int) (data []byte, eof bool, err error) {
	for {
		chunk, end, err := src.next(ctx)
		if err != nil {
			return data, false, err
		}
		data = append(data, chunk...)
		if end {
			return data, true, nil
		}
		if stopAt > 0 && len(data) >= stopAt {
			return data, false, nil
		}
	}
}

// readerBody adapts an io.Reader (downstream request body, upstream
// response body) and reports activity to the stream's idle timer.
type readerBody struct {
	s      *stream
	r      io.Reader
	onRead func(n int)
	mapErr func(error) error
	done   bool
}

func (b *readerBody) next(ctx context.Context) ([]byte, bool, error) {
	if b.done {
		return nil, true, nil
	}
	buf := make([]byte, 32*1024)
	n, err := b.r.Read(buf)
	if n > 0 {
		b.s.idle.touch()
		if b.onRead != nil {
			b.onRead(n)
		}
	}
	if err == io.EOF {
		b.done = true
		return buf[:n], true, nil
	}
	if err != nil {
		if b.mapErr != nil {
			return nil, false, b.mapErr(err)
		}
		return nil, false, errStreamReset
	}
	return buf[:n], false, nil
}

// bodyReader adapts a bodySource to io.Reader for the upstream request; it
// keeps the source's error so the router can turn it into the right reply.
type bodyReader struct {
	ctx     context.Context
	src     bodySource
	pending []byte
	eof     bool
	err     error
	onEOF   func()
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		chunk, eof, err := r.src.next(r.ctx)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.pending, r.eof = chunk, eof
		if eof && r.onEOF != nil {
			r.onEOF()
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// idleTimer is the stream idle timeout: reset by every read or write.
type idleTimer struct {
	mu   sync.Mutex
	d    time.Duration
	t    *time.Timer
	fire func()
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	it := &idleTimer{d: d, fire: fire}
	if d > 0 {
		it.t = time.AfterFunc(d, fire)
	}
	return it
}

func (it *idleTimer) touch() {
	if it == nil {
		return
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.t != nil {
		it.t.Reset(it.d)
	}
}

// setTimeout replaces the duration (a route's idle_timeout overrides the
// HCM's stream_idle_timeout); 0 disables it.
func (it *idleTimer) setTimeout(d time.Duration) {
	it.stop()
	it.mu.Lock()
	defer it.mu.Unlock()
	it.d = d
	if d > 0 {
		it.t = time.AfterFunc(d, it.fire)
	} else {
		it.t = nil
	}
}

func (it *idleTimer) stop() {
	if it == nil {
		return
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.t != nil {
		it.t.Stop()
	}
}
