package telemetry

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/telemetry/otlptest"
)

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00f067aa0ba902b7"
)

// One tools/call through both services, with the agent's traceparent:
// two spans in the agent's trace, the decision under the agent's span and
// the processing span under the decision.
func TestExport_ToolCallAcrossServices(t *testing.T) {
	tr := newTracing(t, Config{ServiceVersion: "v1.2.3"})

	// ext_authz
	in := map[string]string{"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-01", "tracestate": "vendor=x"}
	ctx := ContextFromHeaders(context.Background(), headers(in))
	ctx, sp := StartDecision(ctx, tr.tracer, Call{
		DecisionID: "dec-123", Server: "quotes", SessionID: "sess-9", ProtocolVersion: "2025-06-18",
	})
	sp.Update(Call{Method: "tools/call", Tool: "get_quote", RequestID: "7", ToolCallID: "call_abc"})
	tp := Traceparent(ctx)
	if ts := Tracestate(ctx); ts != "vendor=x" {
		t.Errorf("Tracestate = %q, want the incoming vendor=x", ts)
	}
	EndDecision(sp, allowDecision())

	// ext_proc sees the request headers ext_authz mutated.
	pctx := ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": tp}))
	_, ps := StartProcessing(pctx, tr.tracer, Call{
		DecisionID: "dec-123", Server: "quotes", Method: "tools/call", Tool: "get_quote", RequestID: "7",
		Agent: "trader-bot", Tenant: "acme",
	})
	EndProcessing(ps, Result{HTTPStatus: 200, Redactions: 2})
	tr.flush()

	spans, err := tr.rcv.WaitForSpans(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dec, proc := findKind(t, spans, tracepb.Span_SPAN_KIND_SERVER), findKind(t, spans, tracepb.Span_SPAN_KIND_CLIENT)
	for _, s := range []otlptest.Span{dec, proc} {
		if s.Name != "tools/call get_quote" {
			t.Errorf("span name %q, want %q", s.Name, "tools/call get_quote")
		}
		if s.TraceID != incomingTrace {
			t.Errorf("%s: trace id %s, want the incoming %s", s.Name, s.TraceID, incomingTrace)
		}
		wantAttrs(t, "resource", s.Resource, map[string]string{
			"service.name": "actiongate", "service.instance.id": "gw-1", "service.version": "v1.2.3",
		})
		if s.Scope != ScopeName || s.SchemaURL != semconv.SchemaURL {
			t.Errorf("scope %q schema %q, want %q %q", s.Scope, s.SchemaURL, ScopeName, semconv.SchemaURL)
		}
	}
	if dec.ParentSpanID != incomingParent {
		t.Errorf("decision parent %s, want the agent's span %s", dec.ParentSpanID, incomingParent)
	}
	if proc.ParentSpanID != dec.SpanID {
		t.Errorf("processing parent %s, want the decision span %s", proc.ParentSpanID, dec.SpanID)
	}
	if dec.TraceState != "vendor=x" {
		t.Errorf("decision tracestate %q, want vendor=x", dec.TraceState)
	}
	wantAttrs(t, "decision", dec.Attributes, map[string]string{
		"mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_quote",
		"gen_ai.tool.call.id": "call_abc", "jsonrpc.request.id": "7", "mcp.session.id": "sess-9",
		"mcp.protocol.version": "2025-06-18", "gen_ai.agent.id": "trader-bot",
		"actiongate.decision.id": "dec-123", "actiongate.decision.outcome": "allow", "actiongate.decision.reason": "allowed",
		"actiongate.server": "quotes", "actiongate.tenant": "acme", "actiongate.policy.revision": "sha256:abc",
		"actiongate.registry.version": "reg-v7",
	})
	if _, ok := dec.Attr("error.type"); ok || dec.StatusCode == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("allowed decision has error.type or ERROR status: %v %v", dec.Attributes, dec.StatusCode)
	}
	wantAttrs(t, "processing", proc.Attributes, map[string]string{
		"mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_quote",
		"actiongate.decision.id": "dec-123", "http.response.status_code": "200", "actiongate.redactions": "2",
	})
	if len(tr.rcv.ByTraceID(incomingTrace)) != 2 || len(tr.rcv.WithAttribute("actiongate.decision.id", "dec-123")) != 2 {
		t.Errorf("receiver lookups disagree with the spans: %+v", spans)
	}
}

// No traceparent: ext_authz starts the trace, and the header it hands
// Envoy, parsed back as ext_proc would, continues it.
func TestTraceparent_StartsTraceThatProcessingJoins(t *testing.T) {
	tr := newTracing(t, Config{})
	ctx := ContextFromHeaders(context.Background(), headers(map[string]string{}))
	ctx, sp := StartDecision(ctx, tr.tracer, Call{Method: "tools/call", Tool: "get_quote"})
	tp := Traceparent(ctx)
	if !regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$`).MatchString(tp) {
		t.Fatalf("Traceparent = %q, not a W3C traceparent", tp)
	}
	want := trace.SpanContextFromContext(ctx)
	back := trace.SpanContextFromContext(ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": tp})))
	if back.TraceID() != want.TraceID() || back.SpanID() != want.SpanID() || !back.IsSampled() || !back.IsRemote() {
		t.Fatalf("parsed back %v, want trace %s span %s sampled", back, want.TraceID(), want.SpanID())
	}
	EndDecision(sp, allowDecision())
	_, ps := StartProcessing(ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": tp})), tr.tracer, Call{Method: "tools/call", Tool: "get_quote"})
	EndProcessing(ps, Result{HTTPStatus: 200})
	tr.flush()
	spans, err := tr.rcv.WaitForSpans(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dec := findKind(t, spans, tracepb.Span_SPAN_KIND_SERVER)
	proc := findKind(t, spans, tracepb.Span_SPAN_KIND_CLIENT)
	if dec.ParentSpanID != "" {
		t.Errorf("decision span has parent %s; it should start the trace", dec.ParentSpanID)
	}
	if proc.TraceID != dec.TraceID || proc.ParentSpanID != dec.SpanID || dec.TraceID != want.TraceID().String() {
		t.Errorf("processing %s/%s, decision %s/%s: not one trace", proc.TraceID, proc.ParentSpanID, dec.TraceID, dec.SpanID)
	}
}

func TestEndDecision_Denials(t *testing.T) {
	tr := newTracing(t, Config{})
	cases := []struct {
		name     string
		reason   decision.Reason
		outcome  decision.Outcome
		tool     string
		wantName string
	}{
		{"policy", decision.ReasonPolicyDenied, decision.Deny, "get_quote", "tools/call get_quote"},
		{"approval", decision.ReasonApprovalRequired, decision.ApprovalRequired, "wire_money", "tools/call wire_money"},
		{"unknown tool stays out of the name", decision.ReasonUnknownTool, decision.Deny, "evil_$(id)", "tools/call"},
		{"internal", decision.ReasonInternal, decision.Deny, "get_quote", "tools/call get_quote"},
	}
	for _, tc := range cases {
		d := allowDecision()
		d.ID, d.Outcome, d.Reason, d.Tool = "dec-"+tc.name, tc.outcome, tc.reason, tc.tool
		_, sp := StartDecision(context.Background(), tr.tracer, Call{DecisionID: d.ID})
		EndDecision(sp, d)
	}
	tr.flush()
	if _, err := tr.rcv.WaitForSpans(len(cases), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tr.rcv.WithAttribute("actiongate.decision.id", "dec-"+tc.name)
			if len(got) != 1 {
				t.Fatalf("%d spans for the decision, want 1", len(got))
			}
			s := got[0]
			if s.Name != tc.wantName {
				t.Errorf("name %q, want %q", s.Name, tc.wantName)
			}
			if s.StatusCode != tracepb.Status_STATUS_CODE_ERROR || s.StatusMsg != string(tc.reason) {
				t.Errorf("status %v %q, want ERROR %q", s.StatusCode, s.StatusMsg, tc.reason)
			}
			wantAttrs(t, tc.name, s.Attributes, map[string]string{
				"error.type": string(tc.reason), "actiongate.decision.outcome": string(tc.outcome),
				"actiongate.decision.reason": string(tc.reason), "gen_ai.tool.name": tc.tool,
			})
		})
	}
}

func TestEndProcessing_ErrorType(t *testing.T) {
	tr := newTracing(t, Config{})
	cases := []struct {
		name    string
		r       Result
		want    string // "" = no error
		rpcCode string
	}{
		{"ok", Result{HTTPStatus: 200}, "", ""},
		{"tool error", Result{HTTPStatus: 200, ToolError: true}, "tool_error", ""},
		{"rpc error", Result{HTTPStatus: 200, RPCErrorCode: -32602}, "-32602", "-32602"},
		{"ours wins", Result{HTTPStatus: 200, RPCErrorCode: -32001, ErrorType: "injection_blocked"}, "injection_blocked", "-32001"},
		{"message text is not a type", Result{ErrorType: "upstream said: secret 42"}, "_OTHER", ""},
		{"5xx", Result{HTTPStatus: 502}, "502", ""},
	}
	for _, tc := range cases {
		_, sp := StartProcessing(context.Background(), tr.tracer, Call{DecisionID: tc.name, Method: "tools/call", Tool: "t"})
		EndProcessing(sp, tc.r)
	}
	tr.flush()
	if _, err := tr.rcv.WaitForSpans(len(cases), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tr.rcv.WithAttribute("actiongate.decision.id", tc.name)[0]
			et, ok := s.Attr("error.type")
			if et != tc.want || ok != (tc.want != "") {
				t.Errorf("error.type %q (present %v), want %q", et, ok, tc.want)
			}
			if (s.StatusCode == tracepb.Status_STATUS_CODE_ERROR) != (tc.want != "") {
				t.Errorf("status %v with error.type %q", s.StatusCode, tc.want)
			}
			if code, _ := s.Attr("rpc.response.status_code"); code != tc.rpcCode {
				t.Errorf("rpc.response.status_code %q, want %q", code, tc.rpcCode)
			}
		})
	}
}

// The agent cannot hide its calls from the gateway's traces by sending
// sampled=0: our ratio decides.
func TestSampling_RemoteUnsampledParentIsRecorded(t *testing.T) {
	tr := newTracing(t, Config{SampleRatio: 1})
	ctx := ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-00"}))
	ctx, sp := StartDecision(ctx, tr.tracer, Call{Method: "tools/call", Tool: "x"})
	if !strings.HasSuffix(Traceparent(ctx), "-01") {
		t.Errorf("Traceparent %q: the decision span should be sampled", Traceparent(ctx))
	}
	EndDecision(sp, allowDecision())
	tr.flush()
	if _, err := tr.rcv.WaitForSpans(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestContextFromMeta_WinsOverHeaders(t *testing.T) {
	const metaTrace = "0af7651916cd43dd8448eb211c80319c"
	ctx := ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-01"}))
	ctx = ContextFromMeta(ctx, []byte(`{"progressToken":"p","traceparent":"00-`+metaTrace+`-b7ad6b7169203331-01","tracestate":"a=b"}`))
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != metaTrace || sc.TraceState().String() != "a=b" {
		t.Errorf("got %s %q, want the _meta trace %s", sc.TraceID(), sc.TraceState(), metaTrace)
	}
	for _, meta := range []string{``, `{}`, `{"traceparent":"garbage"}`, `{"traceparent":7}`, `not json`} {
		got := trace.SpanContextFromContext(ContextFromMeta(ctx, []byte(meta)))
		if got.TraceID().String() != metaTrace {
			t.Errorf("meta %q replaced the context with %v", meta, got)
		}
	}
}

func TestContextFromHeaders_Malformed(t *testing.T) {
	for _, tp := range []string{
		"", "garbage", "00-" + incomingTrace + "-" + incomingParent, // no flags
		"00-00000000000000000000000000000000-" + incomingParent + "-01", // zero trace id
		"00-" + strings.ToUpper(incomingTrace) + "-" + incomingParent + "-01",
		"ff-" + incomingTrace + "-" + incomingParent + "-01",
	} {
		ctx := ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": tp}))
		if trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("traceparent %q accepted", tp)
		}
	}
	if ContextFromHeaders(context.Background(), nil) == nil {
		t.Error("nil getter")
	}
}

func findKind(t *testing.T, spans []otlptest.Span, k tracepb.Span_SpanKind) otlptest.Span {
	t.Helper()
	var found []otlptest.Span
	for _, s := range spans {
		if s.Kind == k {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans of kind %v, want 1: %+v", len(found), k, spans)
	}
	return found[0]
}
