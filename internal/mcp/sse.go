package mcp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxSSEEvent bounds one server-sent event held for reassembly.
const DefaultMaxSSEEvent = 1 << 20

// ErrSSEEventTooLarge: an event grew past the reassembler's bound. The
// reassembler stops; the caller must end the stream with its own event.
var ErrSSEEventTooLarge = errors.New("server-sent event exceeds the size limit")

// errSSEStopped is returned for input after the reassembler has failed.
var errSSEStopped = errors.New("server-sent event stream already failed")

// SSEEvent is one event of a text/event-stream body exactly as it was sent.
// Raw runs from the event's first byte through the blank line that ended it,
// so concatenating Raw of every event reproduces the stream byte for byte.
// A "blank line" on its own (e.g. a third newline) is an event with no fields.
type SSEEvent struct {
	// Raw aliases the reassembler's buffer: valid only during the hook call.
	Raw []byte
	// Terminated is false only for a trailing partial event flushed at end
	// of stream, which a conforming client discards but a sloppy one may not.
	Terminated bool
}

// SSEFields are the fields of one event as a conforming client reads them.
type SSEFields struct {
	Name     string // "event:"; empty means the default "message"
	Data     []byte // "data:" lines joined with '\n'
	HasData  bool
	ID       string
	HasID    bool
	Retry    string // digits only; empty when absent or invalid
	Comments int    // ":" lines (keep-alives)
}

// Fields parses the event per the WHATWG event-stream rules.
func (e *SSEEvent) Fields() SSEFields {
	var f SSEFields
	var data []byte
	forEachSSELine(e.Raw, func(line []byte) {
		if len(line) == 0 {
			return
		}
		if line[0] == ':' {
			f.Comments++
			return
		}
		name, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(name) {
		case "event":
			f.Name = string(value)
		case "data":
			data = append(append(data, value...), '\n')
			f.HasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				f.ID, f.HasID = string(value), true
			}
		case "retry":
			if len(value) > 0 && isASCIIDigits(value) {
				f.Retry = string(value)
			}
		}
	})
	if f.HasData {
		f.Data = data[:len(data)-1]
	}
	return f
}

// forEachSSELine calls fn with each line of b, without its terminator
// (CRLF, LF or CR). A final line without terminator is passed too.
func forEachSSELine(b []byte, fn func(line []byte)) {
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			fn(b)
			return
		}
		fn(b[:i])
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
	}
}

func isASCIIDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// EncodeSSEEvent frames data as one complete event. Every line break in data
// becomes its own "data:" line, so the client rejoins exactly data; a line
// break in name is dropped because it would end the field early.
func EncodeSSEEvent(name string, data []byte) []byte {
	var b bytes.Buffer
	if name != "" {
		name = string(bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, []byte(name)))
		b.WriteString("event: " + name + "\n")
	}
	if len(data) == 0 {
		b.WriteString("data: \n")
	}
	forEachSSELine(data, func(line []byte) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	})
	// A trailing line break in data means one more, empty, data line.
	if n := len(data); n > 0 && (data[n-1] == '\n' || data[n-1] == '\r') {
		b.WriteString("data: \n")
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// SSEHook sees each complete event and returns the bytes to send in its
// place: ev.Raw to pass it unchanged, a new EncodeSSEEvent to rewrite it, nil
// to drop it. An error stops the stream.
type SSEHook func(ev *SSEEvent) ([]byte, error)

// SSEReassembler turns arbitrarily split chunks of an event stream into
// whole events. Chunk boundaries fall anywhere: inside a line, inside a UTF-8
// sequence, between the CR and LF of one line ending. Only bytes of complete
// events leave it; the partial tail waits for the next chunk.
//
// It is not safe for concurrent use; each HTTP stream owns one.
type SSEReassembler struct {
	hook SSEHook
	max  int
	err  error

	buf   []byte
	start int // first byte of the event being assembled
	pos   int // next byte to scan

	atLineStart  bool // pos begins a new line
	pendingCR    bool // buf[pos-1] is a CR whose LF may be in the next chunk
	blankPending bool // that CR ended a blank line, i.e. the event
}

// NewSSEReassembler returns a reassembler that holds at most maxEvent bytes
// of one event (DefaultMaxSSEEvent when maxEvent <= 0). A nil hook passes
// events unchanged.
func NewSSEReassembler(maxEvent int, hook SSEHook) *SSEReassembler {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxSSEEvent
	}
	if hook == nil {
		hook = func(ev *SSEEvent) ([]byte, error) { return ev.Raw, nil }
	}
	return &SSEReassembler{hook: hook, max: maxEvent, atLineStart: true}
}

// Buffered reports how many bytes wait for the rest of their event.
func (r *SSEReassembler) Buffered() int { return len(r.buf) - r.start }

// Feed consumes one chunk and returns the bytes of every event it completed,
// after the hook. With end set, whatever remains is flushed as a final,
// possibly unterminated, event. On error the returned bytes are the events
// completed before the failure (they end on an event boundary, so the caller
// can append its own event), and every later call fails.
func (r *SSEReassembler) Feed(chunk []byte, end bool) ([]byte, error) {
	if r.err != nil {
		return nil, errSSEStopped
	}
	r.buf = append(r.buf, chunk...)
	var out []byte
	out, r.err = r.scan(out)
	if r.err == nil && end {
		out, r.err = r.flush(out)
	}
	if r.err == nil && r.Buffered() > r.max {
		r.err = fmt.Errorf("%w: more than %d bytes without an event boundary", ErrSSEEventTooLarge, r.max)
	}
	r.compact()
	return out, r.err
}

// scan walks the unscanned bytes, emitting each event as its blank line
// completes. Plain bytes are skipped with IndexAny so that long data lines
// cost one pass.
func (r *SSEReassembler) scan(out []byte) ([]byte, error) {
	var err error
	for r.pos < len(r.buf) {
		if r.pendingCR {
			r.pendingCR = false
			if r.buf[r.pos] == '\n' { // second half of a CRLF
				r.pos++
				if r.blankPending {
					r.blankPending = false
					if out, err = r.emit(out, r.pos, true); err != nil {
						return out, err
					}
				}
				continue
			}
			if r.blankPending { // a lone CR ended the event
				r.blankPending = false
				if out, err = r.emit(out, r.pos, true); err != nil {
					return out, err
				}
			}
		}
		if !r.atLineStart {
			i := bytes.IndexAny(r.buf[r.pos:], "\r\n")
			if i < 0 {
				r.pos = len(r.buf)
				return out, nil
			}
			r.pos += i
		}
		switch r.buf[r.pos] {
		case '\n':
			blank := r.atLineStart
			r.atLineStart = true
			r.pos++
			if blank {
				if out, err = r.emit(out, r.pos, true); err != nil {
					return out, err
				}
			}
		case '\r':
			r.pendingCR, r.blankPending = true, r.atLineStart
			r.atLineStart = true
			r.pos++
		default:
			r.atLineStart = false
			r.pos++
		}
	}
	return out, nil
}

// flush ends the stream: a CR left pending is a complete line ending, and
// any remaining bytes form a final event without its blank line.
func (r *SSEReassembler) flush(out []byte) ([]byte, error) {
	var err error
	if r.pendingCR && r.blankPending {
		if out, err = r.emit(out, len(r.buf), true); err != nil {
			return out, err
		}
	}
	r.pendingCR, r.blankPending = false, false
	if r.start < len(r.buf) {
		return r.emit(out, len(r.buf), false)
	}
	return out, nil
}

// emit hands buf[start:end] to the hook and appends what it returns.
func (r *SSEReassembler) emit(out []byte, end int, terminated bool) ([]byte, error) {
	raw := r.buf[r.start:end:end]
	r.start = end
	if len(raw) > r.max {
		return out, fmt.Errorf("%w: an event of %d bytes, the limit is %d", ErrSSEEventTooLarge, len(raw), r.max)
	}
	b, err := r.hook(&SSEEvent{Raw: raw, Terminated: terminated})
	if err != nil {
		return out, err
	}
	return append(out, b...), nil
}

// compact drops emitted bytes so the buffer holds only the partial event.
func (r *SSEReassembler) compact() {
	if r.start == 0 {
		return
	}
	n := copy(r.buf, r.buf[r.start:])
	r.buf = r.buf[:n]
	r.pos -= r.start
	r.start = 0
	if n == 0 && cap(r.buf) > 64<<10 {
		r.buf = nil // do not pin a large buffer for a long-lived idle stream
	}
}

// ReencodeSSEEvent frames data as ev's replacement: the event name, id and
// retry fields are kept (an id dropped here would break a client's
// Last-Event-ID resumption), comments are not, and data replaces every data
// line.
func ReencodeSSEEvent(ev SSEFields, data []byte) []byte {
	var b bytes.Buffer
	if ev.HasID && !strings.ContainsAny(ev.ID, "\r\n\x00") {
		b.WriteString("id: " + ev.ID + "\n")
	}
	if ev.Retry != "" {
		b.WriteString("retry: " + ev.Retry + "\n")
	}
	b.Write(EncodeSSEEvent(ev.Name, data))
	return b.Bytes()
}
