package e2e

import (
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/actiongate/actiongate/internal/telemetry/otlptest"
)

// TestTraceSpansOneCall: one tool call through the gateway is one trace in
// the OTLP backend: ext_authz's SERVER span and ext_proc's CLIENT span
// under it, both named for the MCP method and tool, both carrying the
// decision id; no argument value appears in any span.
func TestTraceSpansOneCall(t *testing.T) {
	const marker = "TRCX9"
	cs := connectAs(t, "trading", token(t, bob))
	callText(t, cs, "get_quote", map[string]any{"symbol": marker})

	var decision, processing otlptest.Span
	_, err := env.otlp.WaitFor(10*time.Second, func(spans []otlptest.Span) bool {
		for _, s := range spans {
			if s.Name != "tools/call get_quote" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
				continue
			}
			id, _ := s.Attr("actiongate.decision.id")
			for _, c := range spans {
				if cid, _ := c.Attr("actiongate.decision.id"); cid == id && c.Kind == tracepb.Span_SPAN_KIND_CLIENT {
					decision, processing = s, c
					return true
				}
			}
		}
		return false
	}, "a decision span and its processing span")
	if err != nil {
		t.Fatal(err)
	}
	if processing.TraceID != decision.TraceID || processing.ParentSpanID != decision.SpanID {
		t.Fatalf("processing span %s/%s is not a child of decision span %s/%s",
			processing.TraceID, processing.ParentSpanID, decision.TraceID, decision.SpanID)
	}
	for k, want := range map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_quote",
		"mcp.method.name": "tools/call", "gen_ai.agent.id": "trade-executor", "actiongate.decision.outcome": "allow"} {
		if got, _ := decision.Attr(k); got != want {
			t.Errorf("decision span %s = %q, want %q", k, got, want)
		}
	}
	for _, s := range env.otlp.Spans() {
		for k, v := range s.Attributes {
			if strings.Contains(v, marker) {
				t.Errorf("span %q attribute %s carries a tool argument", s.Name, k)
			}
		}
	}
}
