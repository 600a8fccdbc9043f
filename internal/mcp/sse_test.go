package mcp

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Streams shaped like what MCP servers send: go-sdk style (event/id/data),
// CRLF servers, keep-alive comments, retry hints, priming events with empty
// data, multi-line data, a lone-CR server and a stream cut mid-event.
var sseStreams = map[string]string{
	"go-sdk": "event: message\nid: 1_0\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n" +
		"event: message\nid: 1_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"héllo wörld ✓\"}]}}\n\n",
	"crlf":      "retry: 3000\r\nid: a\r\ndata: \r\n\r\n: keepalive\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}\r\n\r\n",
	"cr only":   "data: one\r\rdata: two\rdata: three\r\r",
	"multiline": "data: {\"a\":\ndata: 1}\n\n:keepalive\n\n\n\nid\ndata\n\n",
	"truncated": "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"res",
	"mixed":     "data: a\r\n\ndata: b\n\r\ndata: c\r\r\n:x\n\r",
}

// referenceEvents splits a whole stream in one pass, written independently
// of the incremental scanner: it is the oracle the scanner must match.
func referenceEvents(s []byte) [][]byte {
	var events [][]byte
	start, i := 0, 0
	lineStart := true
	for i < len(s) {
		c := s[i]
		if c != '\r' && c != '\n' {
			lineStart = false
			i++
			continue
		}
		end := i + 1
		if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			end = i + 2
		}
		if lineStart {
			events = append(events, s[start:end])
			start = end
		}
		lineStart = true
		i = end
	}
	if start < len(s) {
		events = append(events, s[start:])
	}
	return events
}

// feedSplit feeds in chunks at the given cut sizes (0 = an empty chunk, as
// Envoy sends for a bare end of stream) and records what the hook saw.
func feedSplit(t testing.TB, r *SSEReassembler, in []byte, sizes []int) ([]byte, error) {
	t.Helper()
	var out []byte
	for len(in) > 0 || len(sizes) > 0 {
		n := len(in)
		if len(sizes) > 0 {
			n, sizes = min(sizes[0], len(in)), sizes[1:]
		}
		end := n == len(in) && len(sizes) == 0
		b, err := r.Feed(in[:n], end)
		out = append(out, b...)
		if err != nil {
			return out, err
		}
		in = in[n:]
		if end {
			return out, nil
		}
	}
	b, err := r.Feed(nil, true)
	return append(out, b...), err
}

func recordingHook(seen *[][]byte, terminated *[]bool) SSEHook {
	return func(ev *SSEEvent) ([]byte, error) {
		*seen = append(*seen, bytes.Clone(ev.Raw))
		*terminated = append(*terminated, ev.Terminated)
		return ev.Raw, nil
	}
}

func TestSSEReassembler_RandomSplitsReproduceInput(t *testing.T) {
	t.Parallel()
	for name, stream := range sseStreams {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(len(stream))))
			want := referenceEvents([]byte(stream))
			for trial := range 300 {
				var sizes []int
				for range rng.IntN(len(stream) + 1) {
					sizes = append(sizes, rng.IntN(8))
				}
				if trial == 0 { // one byte at a time
					sizes = sizes[:0]
					for range len(stream) {
						sizes = append(sizes, 1)
					}
				}
				var seen [][]byte
				var term []bool
				out, err := feedSplit(t, NewSSEReassembler(0, recordingHook(&seen, &term)), []byte(stream), sizes)
				if err != nil {
					t.Fatalf("sizes %v: %v", sizes, err)
				}
				if string(out) != stream {
					t.Fatalf("sizes %v: output differs\n got %q\nwant %q", sizes, out, stream)
				}
				if fmt.Sprintf("%q", seen) != fmt.Sprintf("%q", want) {
					t.Fatalf("sizes %v: events\n got %q\nwant %q", sizes, seen, want)
				}
			}
		})
	}
}

func TestSSEReassembler_EmitsOnlyCompleteEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string // last chunk is sent with end of stream
		want   []string // output per Feed call
	}{
		{"event split mid-line", []string{"data: he", "llo\n", "\nda", ""}, []string{"", "", "data: hello\n\n", "da"}},
		{"CR at chunk end waits for LF", []string{"data: a\r\n\r", "\n", "data: b\r\n\r\n"}, []string{"", "data: a\r\n\r\n", "data: b\r\n\r\n"}},
		{"CR at chunk end then other byte", []string{"data: a\r\r", "data: b\r\r", ""}, []string{"", "data: a\r\r", "data: b\r\r"}},
		{"CR at end of stream ends event", []string{"data: a\r", "\r"}, []string{"", "data: a\r\r"}},
		{"UTF-8 split", []string{"data: \xe2\x9c", "\x93\n\n"}, []string{"", "data: ✓\n\n"}},
		{"two events in one chunk", []string{"data: 1\n\ndata: 2\n\ndata: 3", "\n\n"}, []string{"data: 1\n\ndata: 2\n\n", "data: 3\n\n"}},
		{"empty final chunk flushes tail", []string{": keep\n\n:x", ""}, []string{": keep\n\n", ":x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewSSEReassembler(0, nil)
			for i, c := range tc.chunks {
				out, err := r.Feed([]byte(c), i == len(tc.chunks)-1)
				if err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if string(out) != tc.want[i] {
					t.Fatalf("chunk %d: got %q, want %q", i, out, tc.want[i])
				}
			}
			if r.Buffered() != 0 {
				t.Fatalf("%d bytes left after end of stream", r.Buffered())
			}
		})
	}
}

func TestSSEReassembler_TooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		chunks  []string
		wantOut string
	}{
		{"partial event grows past bound", []string{"data: ok\n\ndata: 0123", "456789abcdef"}, "data: ok\n\n"},
		{"complete event past bound in one chunk", []string{"data: ok\n\ndata: 0123456789abcdef\n\ndata: never\n\n"}, "data: ok\n\n"},
		{"unterminated tail past bound at end", []string{"data: 0123456789abcdefgh"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewSSEReassembler(16, nil)
			var out []byte
			var err error
			for i, c := range tc.chunks {
				var b []byte
				b, err = r.Feed([]byte(c), i == len(tc.chunks)-1)
				out = append(out, b...)
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrSSEEventTooLarge) {
				t.Fatalf("err = %v, want ErrSSEEventTooLarge", err)
			}
			if string(out) != tc.wantOut {
				t.Fatalf("out = %q, want %q", out, tc.wantOut)
			}
			if b, err := r.Feed([]byte("data: more\n\n"), true); err == nil || b != nil {
				t.Fatalf("Feed after failure = %q, %v; want nil and an error", b, err)
			}
		})
	}
}

func TestSSEReassembler_HookRewritesAndFails(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	hook := func(ev *SSEEvent) ([]byte, error) {
		f := ev.Fields()
		switch {
		case string(f.Data) == "secret":
			return EncodeSSEEvent(f.Name, []byte("[redacted]")), nil
		case string(f.Data) == "fail":
			return nil, boom
		case f.Comments > 0:
			return nil, nil
		}
		return ev.Raw, nil
	}
	r := NewSSEReassembler(0, hook)
	out, err := r.Feed([]byte("event: message\r\ndata: secret\r\n\r\n: ping\n\ndata: ok\n\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "event: message\ndata: [redacted]\n\ndata: ok\n\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	out, err = r.Feed([]byte("data: x\n\ndata: fail\n\ndata: y\n\n"), false)
	if !errors.Is(err, boom) || string(out) != "data: x\n\n" {
		t.Fatalf("got %q, %v; want the event before the failure and the hook error", out, err)
	}
}

func TestSSEEvent_Fields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want SSEFields
	}{
		{"event: message\nid: 1_0\ndata: {\"a\":1}\n\n", SSEFields{Name: "message", ID: "1_0", HasID: true, Data: []byte(`{"a":1}`), HasData: true}},
		{"data:a\r\ndata:  b\r\ndata\r\n\r\n", SSEFields{Data: []byte("a\n b\n"), HasData: true}},
		{": keepalive\r\r", SSEFields{Comments: 1}},
		{"retry: 10x\nretry: 250\nid: a\x00b\n\n", SSEFields{Retry: "250"}},
		{"id\nunknown: z\n\n", SSEFields{ID: "", HasID: true}},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			got := (&SSEEvent{Raw: []byte(tc.raw)}).Fields()
			if fieldsString(got) != fieldsString(tc.want) {
				t.Fatalf("got %s\nwant %s", fieldsString(got), fieldsString(tc.want))
			}
		})
	}
}

func fieldsString(f SSEFields) string {
	return fmt.Sprintf("name=%q data=%q/%v id=%q/%v retry=%q comments=%d", f.Name, f.Data, f.HasData, f.ID, f.HasID, f.Retry, f.Comments)
}

func TestEncodeSSEEvent_RoundTrips(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"", "x", `{"jsonrpc":"2.0"}`, "a\nb", "a\r\nb\rc", "trailing\n", "\n"} {
		t.Run(data, func(t *testing.T) {
			t.Parallel()
			raw := EncodeSSEEvent("mes\nsage", []byte(data))
			if evs := referenceEvents(raw); len(evs) != 1 {
				t.Fatalf("%q frames as %d events", raw, len(evs))
			}
			f := (&SSEEvent{Raw: raw}).Fields()
			want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
			if f.Name != "message" || string(f.Data) != want || !f.HasData {
				t.Fatalf("%q parses as %s, want data %q", raw, fieldsString(f), want)
			}
		})
	}
}

// FuzzSSEReassembly: for any input and any split, the identity hook sees
// exactly the reference events and the output equals the input; with a
// small bound, the output is a prefix ending on an event boundary.
func FuzzSSEReassembly(f *testing.F) {
	for _, s := range sseStreams {
		f.Add([]byte(s), []byte{1, 2, 3, 0, 7}, uint16(0))
		f.Add([]byte(s), []byte{1}, uint16(8))
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte, bound uint16) {
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c % 32)
		}
		var seen [][]byte
		var term []bool
		limit := int(bound)
		if limit == 0 {
			limit = len(in) + 1
		}
		out, err := feedSplit(t, NewSSEReassembler(limit, recordingHook(&seen, &term)), in, sizes)
		want := referenceEvents(in)
		tooLarge := -1
		for i, ev := range want {
			if len(ev) > limit {
				tooLarge = i
				break
			}
		}
		if tooLarge < 0 {
			if err != nil || !bytes.Equal(out, in) || len(seen) != len(want) {
				t.Fatalf("err %v, out %q, events %d; want input %q, %d events", err, out, len(seen), in, len(want))
			}
			return
		}
		prefix := bytes.Join(want[:tooLarge], nil)
		if !errors.Is(err, ErrSSEEventTooLarge) || !bytes.Equal(out, prefix) {
			t.Fatalf("err %v, out %q; want ErrSSEEventTooLarge after %q", err, out, prefix)
		}
	})
}

func realisticStream(events int) []byte {
	var b bytes.Buffer
	text := strings.Repeat("Patient record line with some ünïcode ✓ and digits 0123456789. ", 20)
	for i := range events {
		if i%10 == 0 {
			b.WriteString(": keepalive\n\n")
		}
		fmt.Fprintf(&b, "event: message\nid: s1_%d\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":%d,\"message\":%q}}\n\n", i, i, text)
	}
	return b.Bytes()
}

func BenchmarkSSEReassembly(b *testing.B) {
	stream := realisticStream(200)
	for _, chunk := range []int{1 << 14, 1500, 7} {
		b.Run(fmt.Sprintf("chunk=%d", chunk), func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				r := NewSSEReassembler(0, nil)
				for off := 0; off < len(stream); off += chunk {
					end := min(off+chunk, len(stream))
					if _, err := r.Feed(stream[off:end], end == len(stream)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func TestReencodeSSEEvent_KeepsIDAndRetry(t *testing.T) {
	raw := []byte("id: 42\r\nretry: 1000\r\n: keep-alive\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n")
	r := NewSSEReassembler(1<<10, func(ev *SSEEvent) ([]byte, error) {
		f := ev.Fields()
		return ReencodeSSEEvent(f, []byte("{\"b\":2}\nsecond")), nil
	})
	out, err := r.Feed(raw, true)
	if err != nil {
		t.Fatal(err)
	}
	var got SSEFields
	NewSSEReassembler(1<<10, func(ev *SSEEvent) ([]byte, error) { got = ev.Fields(); return nil, nil }).Feed(out, true)
	if !got.HasID || got.ID != "42" || got.Retry != "1000" || got.Name != "message" || string(got.Data) != "{\"b\":2}\nsecond" {
		t.Fatalf("re-encoded %q reads back as %+v", out, got)
	}
}
