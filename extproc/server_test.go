package extproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/mcp"
)

// startServer runs a real Server behind a real grpc.Server on a free
// loopback port and returns a client connected to it.
func startServer(t *testing.T, tweak ...func(*Server)) (extprocv3.ExternalProcessorClient, *prometheus.Registry) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	g := grpc.NewServer()
	srv := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	for _, f := range tweak {
		f(srv)
	}
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return extprocv3.NewExternalProcessorClient(conn), reg
}

// Messages as Envoy builds them for the ActionGate filter config.
func msgRequestHeaders(decisionID string, rpcID string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: headers(false,
			":method", "POST", ":path", "/mcp/ehr", ":scheme", "http", ":authority", "gw",
			"content-type", "application/json", "accept", "application/json, text/event-stream", "accept-encoding", "gzip, br")},
		MetadataContext: authzMetadata(decisionID, structpb.NewStringValue(rpcID)),
		ProtocolConfig: &extprocv3.ProtocolConfiguration{
			RequestBodyMode: extprocfv3.ProcessingMode_BUFFERED, ResponseBodyMode: extprocfv3.ProcessingMode_STREAMED},
	}
}

func msgRequestBody(decisionID, body string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{
		Request:         &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}},
		MetadataContext: authzMetadata(decisionID, nil),
	}
}

func msgResponseHeaders(eos bool, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: headers(eos, kv...)}}
}

func msgResponseBody(body string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: eos}}}
}

// drive sends every message without waiting, as Envoy pipelines STREAMED
// chunks, then half-closes and collects answers until the server ends the
// stream. It fails unless the server ended it cleanly.
func drive(t *testing.T, c extprocv3.ExternalProcessorClient, msgs []*extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, m := range msgs {
			if stream.Send(m) != nil {
				return // the server ended the stream (immediate response)
			}
		}
		_ = stream.CloseSend()
	}()
	var resps []*extprocv3.ProcessingResponse
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return resps
		}
		if err != nil {
			t.Fatalf("after %d answers: %v", len(resps), err)
		}
		resps = append(resps, r)
	}
}

// checkAnswers asserts one answer of the matching type per message, in order.
func checkAnswers(t *testing.T, msgs []*extprocv3.ProcessingRequest, resps []*extprocv3.ProcessingResponse) {
	t.Helper()
	if len(resps) != len(msgs) {
		t.Fatalf("%d answers to %d messages", len(resps), len(msgs))
	}
	for i, m := range msgs {
		want, got := phaseOf(m), answerPhase(resps[i])
		if want != got {
			t.Fatalf("message %d is %s, answer is %s", i, want, got)
		}
	}
}

func answerPhase(r *extprocv3.ProcessingResponse) string {
	switch r.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		return phaseRequestHeaders
	case *extprocv3.ProcessingResponse_RequestBody:
		return phaseRequestBody
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		return phaseResponseHeaders
	case *extprocv3.ProcessingResponse_ResponseBody:
		return phaseResponseBody
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		return "immediate_response"
	}
	return "other"
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

const toolCall = `{"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"read_chart","arguments":{"patient":"p-1"}}}`

func TestProcess_JSONExchange(t *testing.T) {
	t.Parallel()
	c, reg := startServer(t)
	result := `{"jsonrpc":"2.0","id":"c-1","result":{"content":[{"type":"text","text":"chart"}],"isError":false}}`
	msgs := []*extprocv3.ProcessingRequest{
		msgRequestHeaders("d-10", `"c-1"`),
		msgRequestBody("d-10", toolCall),
		msgResponseHeaders(false, ":status", "200", "content-type", "application/json", "content-length", "97"),
		msgResponseBody(result, true),
	}
	resps := drive(t, c, msgs)
	checkAnswers(t, msgs, resps)
	if rm := resps[0].GetRequestHeaders().GetResponse().GetHeaderMutation().GetRemoveHeaders(); len(rm) != 1 || rm[0] != "accept-encoding" {
		t.Fatalf("request headers answer removes %v", rm)
	}
	if mo := resps[2].GetModeOverride(); mo.GetResponseBodyMode() != extprocfv3.ProcessingMode_BUFFERED ||
		mo.GetRequestBodyMode() != extprocfv3.ProcessingMode_BUFFERED {
		t.Fatalf("mode_override %v, want both body modes BUFFERED", mo)
	}
	if bm := resps[3].GetResponseBody().GetResponse().GetBodyMutation(); bm != nil {
		t.Fatalf("unchanged JSON response was mutated: %v", bm)
	}
	if got := counterValue(t, reg, "actiongate_extproc_messages_total", phaseResponseBody); got != 1 {
		t.Fatalf("response_body messages counted %v", got)
	}
}

func TestProcess_SSEInOneByteChunks(t *testing.T) {
	t.Parallel()
	c, _ := startServer(t)
	msgs := []*extprocv3.ProcessingRequest{
		msgRequestHeaders("d-11", `"c-1"`),
		msgRequestBody("d-11", toolCall),
		msgResponseHeaders(false, ":status", "200", "content-type", "text/event-stream"),
	}
	for i := range len(sseStream) {
		msgs = append(msgs, msgResponseBody(sseStream[i:i+1], false))
	}
	msgs = append(msgs, msgResponseBody("", true)) // Envoy's bare end of stream
	resps := drive(t, c, msgs)
	checkAnswers(t, msgs, resps)
	if mo := resps[2].GetModeOverride(); mo.GetResponseBodyMode() != extprocfv3.ProcessingMode_STREAMED ||
		mo.GetRequestBodyMode() != extprocfv3.ProcessingMode_BUFFERED {
		t.Fatalf("mode_override %v, want STREAMED response and BUFFERED request", mo)
	}
	var got strings.Builder
	for i := 3; i < len(msgs); i++ {
		out := applyChunk(t, msgs[i].GetResponseBody().GetBody(), resps[i])
		if len(out) > 0 && !strings.HasSuffix(string(out), "\n\n") && !strings.HasSuffix(string(out), "\r\n\r\n") {
			t.Fatalf("chunk %d forwards %q: not whole events", i, out)
		}
		got.Write(out)
	}
	if got.String() != sseStream {
		t.Fatalf("client would receive\n%q\nwant\n%q", got.String(), sseStream)
	}
}

func TestProcess_LocalReplyFirst(t *testing.T) {
	t.Parallel()
	c, _ := startServer(t)
	denial := string(mcp.ErrorBody([]byte(`"c-1"`), mcp.CodePolicyDenied, "denied", nil))
	msgs := []*extprocv3.ProcessingRequest{
		msgResponseHeaders(false, ":status", "200", "content-type", "application/json"),
		msgResponseBody(denial[:10], false),
		msgResponseBody(denial[10:], true),
	}
	msgs[0].ProtocolConfig = &extprocv3.ProtocolConfiguration{
		RequestBodyMode: extprocfv3.ProcessingMode_BUFFERED, ResponseBodyMode: extprocfv3.ProcessingMode_STREAMED}
	resps := drive(t, c, msgs)
	checkAnswers(t, msgs, resps)
	if resps[0].GetModeOverride() != nil {
		t.Fatalf("local reply got a mode_override: %v", resps[0].GetModeOverride())
	}
	for i := 1; i < 3; i++ {
		in := msgs[i].GetResponseBody().GetBody()
		if out := applyChunk(t, in, resps[i]); string(out) != string(in) {
			t.Fatalf("local reply chunk %d changed to %q", i, out)
		}
	}
}

func TestProcess_FailsClosedWithImmediateResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		msgs       []*extprocv3.ProcessingRequest
		wantStatus int
		wantReason string
		wantID     string
	}{
		{"malformed request body", []*extprocv3.ProcessingRequest{
			msgRequestHeaders("d-12", `"c-1"`), msgRequestBody("d-12", `{"jsonrpc":"2.0","id":1,`),
			msgResponseHeaders(false, ":status", "200"), // never reached: the stream ends first
		}, 400, reasonMalformed, "null"},
		{"unknown message", []*extprocv3.ProcessingRequest{
			msgRequestHeaders("d-13", `"c-1"`), {MetadataContext: &corev3.Metadata{}},
		}, 503, reasonInternal, `"c-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, reg := startServer(t)
			resps := drive(t, c, tc.msgs)
			if len(resps) != 2 || answerPhase(resps[0]) != phaseRequestHeaders {
				t.Fatalf("answers %v, want request_headers then immediate_response and the end", resps)
			}
			body := decodeRPCError(t, checkJSONImmediate(t, resps[1], tc.wantStatus))
			if body.Error.Data.Reason != tc.wantReason || string(body.ID) != tc.wantID || body.Error.Data.DecisionID == "" {
				t.Fatalf("error body %+v", body)
			}
			if got := counterValue(t, reg, "actiongate_extproc_errors_total", map[int]string{400: reasonMalformed, 503: reasonUnknownMessage}[tc.wantStatus]); got != 1 {
				t.Fatalf("errors counted %v", got)
			}
		})
	}
}

func TestProcess_PanicInAPhaseFailsClosed(t *testing.T) {
	t.Parallel()
	c, reg := startServer(t, func(s *Server) {
		s.env.transformJSON = func(*exchange, *mcp.Message, []byte) ([]byte, error) { panic("transform bug") }
	})
	msgs := []*extprocv3.ProcessingRequest{
		msgRequestHeaders("d-14", `"c-1"`),
		msgRequestBody("d-14", toolCall),
		msgResponseHeaders(false, ":status", "200", "content-type", "application/json"),
		msgResponseBody(`{"jsonrpc":"2.0","id":"c-1","result":{}}`, true),
	}
	resps := drive(t, c, msgs)
	if len(resps) != 4 {
		t.Fatalf("%d answers, want 4", len(resps))
	}
	body := decodeRPCError(t, checkJSONImmediate(t, resps[3], 503))
	if string(body.ID) != `"c-1"` || body.Error.Data.Reason != reasonInternal || strings.Contains(string(resps[3].GetImmediateResponse().GetBody()), "transform bug") {
		t.Fatalf("error body %+v", body)
	}
	if got := counterValue(t, reg, "actiongate_extproc_errors_total", reasonInternal); got != 1 {
		t.Fatalf("internal errors counted %v", got)
	}
}

func TestNew_SharesMetricsOnOneRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := New(Options{Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b := New(Options{Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a.env.problem("x")
	b.env.problem("x")
	if got := counterValue(t, reg, "actiongate_extproc_errors_total", "x"); got != 2 {
		t.Fatalf("counted %v across two servers, want 2", got)
	}
}
