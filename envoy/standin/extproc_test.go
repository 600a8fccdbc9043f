package standin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

type procHandler = func(extprocsvc.ExternalProcessor_ProcessServer, func(*extprocsvc.ProcessingRequest)) error

func setHeaders(hv ...*corev3.HeaderValueOption) *extprocsvc.CommonResponse {
	return &extprocsvc.CommonResponse{HeaderMutation: &extprocsvc.HeaderMutation{SetHeaders: hv}}
}

func rawHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
}

// holdBody makes /mcp answer with its headers and first byte, and the
// rest only after release is closed. A body that is complete before the
// processor answers response_headers goes out as one buffered message in
// Envoy; holding most of it back makes it a STREAMED body deterministically.
func holdBody(h *harness, body string) (release chan struct{}) {
	release = make(chan struct{})
	h.upstream.handle("/mcp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, body[:1])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, body[1:])
	})
	return release
}

// releasing wraps a per-message answer function and closes release once
// a message for which when returns true has been answered.
func releasing(release chan struct{}, when func(*extprocsvc.ProcessingRequest) bool, answer func(*extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse) procHandler {
	var once sync.Once
	return func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error {
		for {
			req, err := srv.Recv()
			if err != nil {
				return nil
			}
			record(req)
			if err := srv.Send(answer(req)); err != nil {
				return nil
			}
			if when(req) {
				once.Do(func() { close(release) })
			}
		}
	}
}

func isResponseBody(r *extprocsvc.ProcessingRequest) bool    { return r.GetResponseBody() != nil }
func isResponseHeaders(r *extprocsvc.ProcessingRequest) bool { return r.GetResponseHeaders() != nil }

func TestExtProc_HeaderMutationReadsRawValueOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.proc.script(passthrough(func(req *extprocsvc.ProcessingRequest, resp *extprocsvc.ProcessingResponse) {
		if req.GetRequestHeaders() != nil {
			resp.GetRequestHeaders().Response = setHeaders(
				rawHeader("x-injected", "v1"),
				&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-value-only", Value: "lost"}},
				rawHeader("host", "evil.example"), // disallowed by the default rules: ignored
			)
		}
	}))
	_, body := h.post("/mcp/ehr", `{}`)
	var seen seenRequest
	if err := json.Unmarshal(body, &seen); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if seen.Header.Get("X-Injected") != "v1" {
		t.Errorf("x-injected = %q", seen.Header.Get("X-Injected"))
	}
	if v, ok := seen.Header["X-Value-Only"]; !ok || v[0] != "" {
		t.Errorf("value-only header = %q (present %v), want present and empty", v, ok)
	}
	if seen.Host != h.upstream.addr {
		t.Errorf("host mutated to %q", seen.Host)
	}
}

func TestExtProc_ValueAndRawValueIs500(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.proc.script(passthrough(func(req *extprocsvc.ProcessingRequest, resp *extprocsvc.ProcessingResponse) {
		if req.GetRequestHeaders() != nil {
			resp.GetRequestHeaders().Response = setHeaders(&corev3.HeaderValueOption{
				Header: &corev3.HeaderValue{Key: "x-both", Value: "a", RawValue: []byte("a")}})
		}
	}))
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream reached")
	}
}

func TestExtProc_ImmediateResponseInRequestPhase(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.proc.script(passthrough(func(req *extprocsvc.ProcessingRequest, resp *extprocsvc.ProcessingResponse) {
		if req.GetRequestBody() != nil {
			resp.Response = &extprocsvc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvc.ImmediateResponse{
				Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
				Headers: &extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader("content-type", "application/json")}},
				Body:    []byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"blocked"}}`),
			}}
		}
	}))
	resp, body := h.post("/mcp/ehr", `{"jsonrpc":"2.0","id":1}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "blocked") || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream reached")
	}
	msgs := h.proc.recorded()[0]
	if len(msgs) != 2 || msgs[0].GetRequestHeaders() == nil || msgs[1].GetRequestBody() == nil || !msgs[1].GetRequestBody().GetEndOfStream() {
		t.Errorf("ext_proc saw %v; want request_headers, one buffered request_body, and nothing after the immediate response", msgs)
	}
}

func TestExtProc_StreamedOneByteChunksReassemble(t *testing.T) {
	t.Parallel()
	const body = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"text\":\"héllo ✓\"}}\r\n\r\n"
	h := newHarness(t, withSplitter(SplitEveryByte))
	release := holdBody(h, body)
	h.proc.script(releasing(release, isResponseBody, emptyAnswer))
	resp, got := h.post("/mcp/ehr", `{}`)
	if resp.StatusCode != http.StatusOK || string(got) != body {
		t.Fatalf("got %d %q", resp.StatusCode, got)
	}
	if resp.ContentLength != -1 {
		t.Errorf("content-length %d survived STREAMED mode", resp.ContentLength)
	}
	var chunks [][]byte
	var bodies []*extprocsvc.HttpBody
	for _, m := range h.proc.recorded()[0] {
		if rb := m.GetResponseBody(); rb != nil {
			chunks = append(chunks, rb.GetBody())
			bodies = append(bodies, rb)
		}
	}
	for i, b := range bodies {
		if len(b.GetBody()) > 1 || b.GetEndOfStream() != (i == len(bodies)-1) {
			t.Fatalf("chunk %d: %q end_of_stream=%v; want 1-byte chunks, end_of_stream only on the last", i, b.GetBody(), b.GetEndOfStream())
		}
	}
	if len(chunks) < len(body) || !bytes.Equal(bytes.Join(chunks, nil), []byte(body)) {
		t.Errorf("ext_proc got %d chunks joining to %q", len(chunks), bytes.Join(chunks, nil))
	}
}

func TestExtProc_StreamedMutationsReplaceTheirChunk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSplitter(RandomSplitter(7)))
	release := holdBody(h, strings.Repeat("abcdefgh", 64))
	h.proc.script(releasing(release, isResponseBody, func(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
		resp := emptyAnswer(req)
		if rb := req.GetResponseBody(); rb != nil {
			resp.GetResponseBody().Response = &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{
				Mutation: &extprocsvc.BodyMutation_Body{Body: bytes.ToUpper(rb.GetBody())}}}
		}
		return resp
	}))
	_, got := h.post("/mcp/ehr", `{}`)
	if string(got) != strings.Repeat("ABCDEFGH", 64) {
		t.Errorf("body %q", got)
	}
}

func TestExtProc_CleanCloseContinuesUnprocessed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.proc.script(func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error {
		req, err := srv.Recv()
		if err == nil {
			record(req)
		}
		return nil // closes without answering: Envoy continues WITHOUT processing
	})
	resp, body := h.post("/mcp/ehr", `{"secret":"passes"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "passes") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if s := h.proc.recorded(); len(s) != 1 || len(s[0]) != 1 {
		t.Errorf("ext_proc streams %v: want one stream with only request_headers", s)
	}
}

func TestExtProc_MessageTimeoutIs504(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *testConfig) {
		c.extProc = func(e *extprocv3.ExternalProcessor) { e.MessageTimeout = durationpb.New(100 * time.Millisecond) }
	}))
	h.proc.script(func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error {
		if req, err := srv.Recv(); err == nil {
			record(req)
		}
		<-srv.Context().Done()
		return nil
	})
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream reached")
	}
}

func TestExtProc_ModeOverrideToBuffered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withSplitter(SplitEveryByte))
	release := holdBody(h, `{"result":"original"}`)
	h.proc.script(releasing(release, isResponseHeaders, func(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
		resp := emptyAnswer(req)
		switch {
		case req.GetResponseHeaders() != nil:
			resp.ModeOverride = &extprocv3.ProcessingMode{ResponseBodyMode: extprocv3.ProcessingMode_BUFFERED}
		case req.GetResponseBody() != nil:
			resp.GetResponseBody().Response = &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{
				Mutation: &extprocsvc.BodyMutation_Body{Body: []byte(`{"result":"filtered"}`)}}}
		}
		return resp
	}))
	_, got := h.post("/mcp/ehr", `{}`)
	if string(got) != `{"result":"filtered"}` {
		t.Errorf("body %q", got)
	}
	var bodies []*extprocsvc.HttpBody
	for _, m := range h.proc.recorded()[0] {
		if rb := m.GetResponseBody(); rb != nil {
			bodies = append(bodies, rb)
		}
	}
	if len(bodies) != 1 || !bodies[0].GetEndOfStream() || string(bodies[0].GetBody()) != `{"result":"original"}` {
		t.Errorf("response_body messages %v; want one buffered message", bodies)
	}
}

func TestExtProc_BufferedMutationContentLengthMismatchIs500(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *testConfig) {
		c.extProc = func(e *extprocv3.ExternalProcessor) {
			e.ProcessingMode.ResponseBodyMode = extprocv3.ProcessingMode_BUFFERED
		}
	}))
	h.proc.script(passthrough(func(req *extprocsvc.ProcessingRequest, resp *extprocsvc.ProcessingResponse) {
		if req.GetResponseBody() != nil {
			resp.GetResponseBody().Response = &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{
				Mutation: &extprocsvc.BodyMutation_Body{Body: []byte("shorter")}}}
		}
	}))
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500 for a content-length mismatch", resp.StatusCode)
	}
}

func TestExtProc_SpuriousResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		version string
		want    int
	}{
		{"1.35", http.StatusInternalServerError}, // error from 1.35
		{"1.34", http.StatusOK},                  // before: processing just stops
	}
	for _, tc := range cases {
		t.Run("Envoy"+tc.version, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withEnvoyVersion(tc.version), withConfig(func(c *testConfig) {
				// status_on_error only exists from 1.36; older Envoys reject it.
				c.extProc = func(e *extprocv3.ExternalProcessor) { e.StatusOnError = nil }
			}))
			h.proc.script(passthrough(func(req *extprocsvc.ProcessingRequest, resp *extprocsvc.ProcessingResponse) {
				if req.GetRequestHeaders() != nil {
					resp.Response = &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{}}
				}
			}))
			if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestExtProc_ImmediateResponseAfterHeadersSentResetsStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	release := holdBody(h, "data: secret\n\n")
	h.proc.script(releasing(release, isResponseBody, func(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
		if req.GetResponseBody() != nil {
			return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{
				ImmediateResponse: &extprocsvc.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden}, Body: []byte("never seen")}}}
		}
		return emptyAnswer(req)
	}))
	req, _ := http.NewRequest(http.MethodPost, h.url("/mcp/ehr"), strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err == nil || strings.Contains(string(body), "never seen") || strings.Contains(string(body), "secret") {
		t.Errorf("got %d %q err %v; want the 200 headers, then a reset with no body", resp.StatusCode, body, err)
	}
}

func TestExtProc_SSEArrivesIncrementally(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gotFirst := make(chan struct{})
	h.upstream.handle("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message\ndata: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-gotFirst:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "event: message\ndata: two\n\n")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url("/mcp/sse"), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if ev := readEvent(t, br); ev != "event: message\ndata: one\n\n" {
		t.Fatalf("first event %q", ev)
	}
	close(gotFirst) // the upstream sends the second event only now
	if ev := readEvent(t, br); ev != "event: message\ndata: two\n\n" {
		t.Fatalf("second event %q", ev)
	}
}

func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			t.Fatalf("reading SSE: %v (so far %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
	}
}

func TestExtProc_GRPCErrorUsesStatusOnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.proc.script(func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error {
		if req, err := srv.Recv(); err == nil {
			record(req)
		}
		return status.Error(codes.Internal, "processor crashed")
	})
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want status_on_error 503", resp.StatusCode)
	}
	// A processor that cannot be reached fails the same way.
	h.cfg.procAddr = "127.0.0.1:1"
	v := h.setConfig(h.cfg)
	eventually(t, "new clusters", func() bool { return h.proxy.Stats().AppliedVersion["CDS"] == v })
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unreachable processor: status %d, want 503", resp.StatusCode)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream reached")
	}
}

// Dynamic metadata from the processor is kept only for receiving
// namespaces; forwarded namespaces then carry it on later messages.
func TestExtProc_ReceivingNamespacesOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *testConfig) {
		c.extProc = func(e *extprocv3.ExternalProcessor) {
			e.MetadataOptions.ForwardingNamespaces.Untyped = []string{authzFilter, receivingNS, "other"}
		}
	}))
	md, _ := structpb.NewStruct(map[string]any{receivingNS: map[string]any{"k": "v"}, "other": map[string]any{"k": "v"}})
	h.proc.script(passthrough(func(req *extprocsvc.ProcessingRequest, resp *extprocsvc.ProcessingResponse) {
		if req.GetRequestHeaders() != nil {
			resp.DynamicMetadata = md
		}
	}))
	h.post("/mcp/ehr", `{}`)
	msgs := h.proc.recorded()[0]
	last := msgs[len(msgs)-1].GetMetadataContext().GetFilterMetadata()
	if last[receivingNS].GetFields()["k"].GetStringValue() != "v" || last["other"] != nil {
		t.Errorf("forwarded metadata on the last message: %v", last)
	}
}

func TestHCM_H2CPriorKnowledge(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	resp, err := client.Post(h.url("/mcp/ehr"), "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
	}
	if p := h.authz.checks()[0].GetAttributes().GetRequest().GetHttp().GetProtocol(); p != "HTTP/2" {
		t.Errorf("protocol %q", p)
	}
}

// TestExtProc_IdleStreamFailureResetsStream: a processor that fails its
// stream between messages (here: after the first SSE event, while the
// upstream is quiet) ends the HTTP stream at once, as Envoy's onGrpcError
// does; the client does not wait for the next upstream chunk.
func TestExtProc_IdleStreamFailureResetsStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	quiet := make(chan struct{})
	defer close(quiet)
	h.upstream.handle("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message\ndata: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-quiet:
		case <-r.Context().Done():
		}
	})
	// The processor fails only once the client holds the first event: the
	// stand-in then awaits no answer, so only an idle-failure path can end
	// the stream.
	clientHasFirst := make(chan struct{})
	h.proc.script(func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error {
		for {
			req, err := srv.Recv()
			if err != nil {
				return nil
			}
			record(req)
			if err := srv.Send(emptyAnswer(req)); err != nil {
				return nil
			}
			if req.GetResponseBody() != nil {
				select {
				case <-clientHasFirst:
				case <-srv.Context().Done():
				}
				return status.Error(codes.PermissionDenied, "revoked")
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url("/mcp/sse"), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if ev := readEvent(t, br); ev != "event: message\ndata: one\n\n" {
		t.Fatalf("first event %q", ev)
	}
	close(clientHasFirst)
	start := time.Now()
	rest, err := io.ReadAll(br)
	if err == nil || len(rest) != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("after the processor failed: %q, %v after %s; want a prompt reset", rest, err, time.Since(start))
	}
}
