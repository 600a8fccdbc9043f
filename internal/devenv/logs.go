package devenv

import (
	"fmt"
	"sync"
)

// DefaultLogBytes is how much of a component's output Logs keeps.
const DefaultLogBytes = 256 << 10

// Logs keeps the most recent output of a started component (a process's
// combined stdout and stderr, or an in-process server's log lines) so a
// failing test can print it. Older bytes are dropped once the limit is
// reached. The zero value is ready to use with DefaultLogBytes.
type Logs struct {
	mu      sync.Mutex
	limit   int
	buf     []byte // ring storage, len(buf) <= limit
	start   int    // index of the oldest byte when the ring is full
	dropped int64
}

// NewLogs returns Logs that keep at most limit bytes (DefaultLogBytes if
// limit <= 0).
func NewLogs(limit int) *Logs { return &Logs{limit: limit} }

func (l *Logs) capacity() int {
	if l.limit <= 0 {
		return DefaultLogBytes
	}
	return l.limit
}

// Write appends p, evicting the oldest bytes beyond the limit. It never
// fails, so a chatty process can never block on its own log.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, limit := len(p), l.capacity()
	if len(p) > limit {
		l.dropped += int64(len(p) - limit)
		p = p[len(p)-limit:]
	}
	if room := limit - len(l.buf); room > 0 {
		take := min(room, len(p))
		l.buf = append(l.buf, p[:take]...)
		p = p[take:]
	}
	for len(p) > 0 { // ring is full: overwrite from the oldest byte
		c := copy(l.buf[l.start:], p)
		l.dropped += int64(c)
		l.start = (l.start + c) % limit
		p = p[c:]
	}
	return n, nil
}

// Bytes returns the kept output, oldest first.
func (l *Logs) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]byte, 0, len(l.buf))
	out = append(out, l.buf[l.start:]...)
	return append(out, l.buf[:l.start]...)
}

// String returns the kept output, prefixed by a note when older output was
// dropped.
func (l *Logs) String() string {
	b := l.Bytes()
	l.mu.Lock()
	dropped := l.dropped
	l.mu.Unlock()
	if dropped > 0 {
		return fmt.Sprintf("[... %d earlier bytes dropped ...]\n%s", dropped, b)
	}
	return string(b)
}

// Tail returns at most the last n bytes of the kept output, for error
// messages.
func (l *Logs) Tail(n int) string {
	b := l.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
