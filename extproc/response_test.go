package extproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	extprocfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/mcp"
)

func TestOnResponseHeaders(t *testing.T) {
	t.Parallel()
	const none = extprocfv3.ProcessingMode_BodySendMode(-1) // no mode_override expected
	tests := []struct {
		name       string
		sawRequest bool
		h          *extprocv3.HttpHeaders
		wantBody   bodyHandling
		wantMode   extprocfv3.ProcessingMode_BodySendMode
		wantStatus int
		wantProb   string
	}{
		{"local reply first", false, headers(false, ":status", "403", "content-type", "application/json"), bodyPassthrough, none, 403, ""},
		{"202 without body", true, headers(true, ":status", "202"), bodyNone, none, 202, ""},
		{"JSON-RPC response", true, headers(false, ":status", "200", "content-type", "application/json; charset=utf-8"), bodyJSON, extprocfv3.ProcessingMode_BUFFERED, 200, ""},
		{"JSON upper case", true, headers(false, ":status", "200", "content-type", "Application/JSON"), bodyJSON, extprocfv3.ProcessingMode_BUFFERED, 200, ""},
		{"event stream", true, headers(false, ":status", "200", "content-type", "text/event-stream"), bodySSE, extprocfv3.ProcessingMode_STREAMED, 200, ""},
		{"other content", true, headers(false, ":status", "404", "content-type", "text/plain"), bodyPassthrough, extprocfv3.ProcessingMode_STREAMED, 404, ""},
		{"no content-type", true, headers(false, ":status", "200"), bodyPassthrough, extprocfv3.ProcessingMode_STREAMED, 200, ""},
		{"compressed JSON", true, headers(false, ":status", "200", "content-type", "application/json", "content-encoding", "gzip"), bodyPassthrough, extprocfv3.ProcessingMode_STREAMED, 200, reasonCompressed},
		{"identity encoding", true, headers(false, ":status", "200", "content-type", "text/event-stream", "content-encoding", "identity"), bodySSE, extprocfv3.ProcessingMode_STREAMED, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, probs := testEnv()
			resp, st, err := onResponseHeaders(e, state{sawRequest: tc.sawRequest}, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			rh := resp.GetResponseHeaders()
			if rh == nil || rh.GetResponse().GetHeaderMutation() != nil || rh.GetResponse().GetBodyMutation() != nil {
				t.Fatalf("want an empty response_headers answer, got %v", resp)
			}
			if st.respBody != tc.wantBody || st.status != tc.wantStatus {
				t.Fatalf("body handling %v status %d, want %v %d", st.respBody, st.status, tc.wantBody, tc.wantStatus)
			}
			if (st.sse != nil) != (tc.wantBody == bodySSE) {
				t.Fatalf("reassembler present = %v for %v", st.sse != nil, st.respBody)
			}
			mo := resp.GetModeOverride()
			switch {
			case tc.wantMode == none && mo != nil:
				t.Fatalf("unexpected mode_override %v", mo)
			case tc.wantMode != none && (mo.GetResponseBodyMode() != tc.wantMode ||
				mo.GetRequestBodyMode() != extprocfv3.ProcessingMode_BUFFERED):
				// Both body modes, always: Envoy copies a missing one as NONE.
				t.Fatalf("mode_override %v, want response %v and request BUFFERED", mo, tc.wantMode)
			}
			if tc.wantProb != "" && probs.get(tc.wantProb) != 1 {
				t.Fatalf("%s not counted", tc.wantProb)
			}
		})
	}
}

func TestOnResponseBody_JSON(t *testing.T) {
	t.Parallel()
	valid := []byte(`{"jsonrpc":"2.0","id":"c-1","result":{"content":[{"type":"text","text":"ok"}]}}`)
	reindent := func(_ *exchange, _ *mcp.Message, body []byte) ([]byte, error) {
		var b bytes.Buffer
		err := json.Indent(&b, body, "", "  ") // same message, different bytes
		return b.Bytes(), err
	}
	failing := func(*exchange, *mcp.Message, []byte) ([]byte, error) { return nil, errors.New("boom") }
	tests := []struct {
		name      string
		body      []byte
		eos       bool
		transform jsonTransform
		wantBody  []byte // nil: no mutation
		wantErr   bool
		wantProb  string
	}{
		{"valid passes unchanged", valid, true, nil, nil, false, ""},
		{"garbage passes unchanged", []byte("<html>oops</html>"), true, nil, nil, false, reasonUnparsedResponse},
		{"partial body passes", valid[:10], false, nil, nil, false, reasonModeIgnored},
		{"rewrite sets content-length", valid, true, reindent, nil, false, ""},
		{"transform error fails closed", valid, true, failing, nil, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, probs := testEnv()
			if tc.transform != nil {
				e.transformJSON = tc.transform
			}
			st := state{sawRequest: true, respBody: bodyJSON}
			resp, _, err := onResponseBody(e, st, &extprocv3.HttpBody{Body: tc.body, EndOfStream: tc.eos})
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error so the stream fails closed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := resp.GetResponseBody().GetResponse()
			if resp.GetResponseBody() == nil {
				t.Fatalf("want a response_body answer, got %T", resp.GetResponse())
			}
			if tc.wantProb != "" && probs.get(tc.wantProb) != 1 {
				t.Fatalf("%s not counted", tc.wantProb)
			}
			if tc.transform == nil {
				if c.GetBodyMutation() != nil || c.GetHeaderMutation() != nil {
					t.Fatalf("unexpected mutation %v", c)
				}
				return
			}
			newBody := c.GetBodyMutation().GetBody()
			if len(newBody) <= len(tc.body) || !json.Valid(newBody) {
				t.Fatalf("body mutation %q is not the reindented body", newBody)
			}
			sh := c.GetHeaderMutation().GetSetHeaders()
			if len(sh) != 1 || sh[0].GetHeader().GetKey() != "content-length" || sh[0].GetHeader().GetValue() != "" ||
				string(sh[0].GetHeader().GetRawValue()) != strconv.Itoa(len(newBody)) {
				t.Fatalf("set_headers %v, want content-length %d in raw_value", sh, len(newBody))
			}
		})
	}
}

func TestOnResponseBody_PassthroughChunks(t *testing.T) {
	t.Parallel()
	e, _ := testEnv()
	st := state{respBody: bodyPassthrough}
	for _, chunk := range []string{"not ", "an event\r", "\n", ""} {
		resp, next, err := onResponseBody(e, st, &extprocv3.HttpBody{Body: []byte(chunk), EndOfStream: chunk == ""})
		if err != nil {
			t.Fatal(err)
		}
		if got := applyChunk(t, []byte(chunk), resp); string(got) != chunk {
			t.Fatalf("chunk %q forwarded as %q", chunk, got)
		}
		st = next
	}
}
