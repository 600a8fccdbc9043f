package extproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/mcp"
)

const sseStream = "event: message\r\nid: 1_0\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\r\n\r\n" +
	": keepalive\n\n" +
	"retry: 5000\nevent: message\nid: 1_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"c-1\",\n" +
	"data: \"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ünïcödé ✓\"}]}}\n\n"

// runSSE drives a stream's response body through onResponseBody in chunks
// of size n and returns what Envoy would forward per chunk.
func runSSE(t *testing.T, e *env, stream string, n int) []string {
	t.Helper()
	resp, st, err := onResponseHeaders(e, state{sawRequest: true, x: exchange{DecisionID: "d-5", RPCID: json.RawMessage(`"c-1"`)}},
		headers(false, ":status", "200", "content-type", "text/event-stream"))
	if err != nil || resp.GetResponseHeaders() == nil {
		t.Fatalf("response headers: %v %v", resp, err)
	}
	var outs []string
	for off := 0; ; off += n {
		end := min(off+n, len(stream))
		chunk := []byte(stream[off:end])
		resp, st, err = onResponseBody(e, st, &extprocv3.HttpBody{Body: chunk, EndOfStream: end == len(stream)})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(applyChunk(t, chunk, resp)))
		if end == len(stream) {
			return outs
		}
	}
}

func TestSSE_ChunksReassembleToTheSameBytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3, 7, 64, len(sseStream)} {
		e, _ := testEnv()
		outs := runSSE(t, e, sseStream, n)
		if got := strings.Join(outs, ""); got != sseStream {
			t.Fatalf("chunk size %d: forwarded\n%q\nwant\n%q", n, got, sseStream)
		}
		for i, o := range outs {
			// Every forwarded piece is whole events: it ends on a blank line.
			if o != "" && !strings.HasSuffix(o, "\n\n") && !strings.HasSuffix(o, "\r\n\r\n") {
				t.Fatalf("chunk size %d: piece %d %q does not end on an event boundary", n, i, o)
			}
		}
	}
}

func TestSSE_EventTransformRewritesData(t *testing.T) {
	t.Parallel()
	e, _ := testEnv()
	e.transformEvent = func(x *exchange, ev *mcp.SSEEvent) ([]byte, error) {
		f := ev.Fields()
		if !bytes.Contains(f.Data, []byte("ünïcödé")) {
			return ev.Raw, nil
		}
		if x.DecisionID != "d-5" {
			return nil, errors.New("hook did not see the exchange")
		}
		return mcp.EncodeSSEEvent(f.Name, bytes.ReplaceAll(f.Data, []byte("ünïcödé"), []byte("[redacted]"))), nil
	}
	got := strings.Join(runSSE(t, e, sseStream, 5), "")
	if strings.Contains(got, "ünïcödé") || !strings.Contains(got, "[redacted]") || !strings.HasPrefix(got, "event: message\r\nid: 1_0\r\n") {
		t.Fatalf("forwarded %q", got)
	}
}

func TestSSE_FailuresEndTheStreamWithAnErrorEvent(t *testing.T) {
	t.Parallel()
	big := "event: message\ndata: " + strings.Repeat("x", 300) + "\n\n"
	tests := []struct {
		name       string
		maxEvent   int
		transform  eventTransform
		stream     string
		wantPrefix string
		wantReason string
	}{
		{"event over the bound", 128, nil, "data: first\n\n" + big + "data: after\n\n", "data: first\n\n", reasonEventTooLarge},
		{"transform error", 0, func(_ *exchange, ev *mcp.SSEEvent) ([]byte, error) {
			if bytes.Contains(ev.Raw, []byte("bad")) {
				return nil, errors.New("cannot redact")
			}
			return ev.Raw, nil
		}, "data: first\n\ndata: bad\n\ndata: after\n\n", "data: first\n\n", reasonInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, probs := testEnv()
			if tc.maxEvent > 0 {
				e.maxEvent = tc.maxEvent
			}
			if tc.transform != nil {
				e.transformEvent = tc.transform
			}
			got := strings.Join(runSSE(t, e, tc.stream, 4), "")
			rest, ok := strings.CutPrefix(got, tc.wantPrefix)
			if !ok {
				t.Fatalf("forwarded %q, want it to start with %q", got, tc.wantPrefix)
			}
			// Exactly one more event, the JSON-RPC error for the call.
			f := (&mcp.SSEEvent{Raw: []byte(rest)}).Fields()
			if !strings.HasSuffix(rest, "\n\n") || strings.Count(rest, "\n\n") != 1 || f.Name != "message" {
				t.Fatalf("tail %q is not one complete message event", rest)
			}
			body := decodeRPCError(t, f.Data)
			if string(body.ID) != `"c-1"` || body.Error.Code != mcp.CodeGatewayError ||
				body.Error.Data.Reason != tc.wantReason || body.Error.Data.DecisionID != "d-5" {
				t.Fatalf("error event %+v", body)
			}
			if probs.get(tc.wantReason) != 1 {
				t.Fatalf("%s counted %d times", tc.wantReason, probs.get(tc.wantReason))
			}
		})
	}
}
