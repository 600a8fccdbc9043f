package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkDecisionSpan is the tracing cost ext_authz adds per Check:
// extract the incoming traceparent, start the decision span, render the
// traceparent for Envoy, end the span with the decision.
//
//	go test -run '^$' -bench DecisionSpan -benchmem ./internal/telemetry/
func BenchmarkDecisionSpan(b *testing.B) {
	in := map[string]string{"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-01"}
	get := func(k string) string { return in[k] }
	d := allowDecision()
	call := Call{DecisionID: d.ID, Server: d.Server, SessionID: "sess-9", ProtocolVersion: "2025-06-18", RequestID: "7"}

	run := func(b *testing.B, tracer trace.Tracer) {
		b.ReportAllocs()
		for b.Loop() {
			ctx := ContextFromHeaders(context.Background(), get)
			ctx, sp := StartDecision(ctx, tracer, call)
			_ = Traceparent(ctx)
			EndDecision(sp, d)
		}
	}
	b.Run("off", func(b *testing.B) {
		tp, _, err := Setup(context.Background(), Config{})
		if err != nil {
			b.Fatal(err)
		}
		run(b, Tracer(tp))
	})
	for _, bc := range []struct {
		name  string
		ratio float64
	}{{"on", 1}, {"on-sampled-out", 1e-9}} {
		b.Run(bc.name, func(b *testing.B) {
			tr := benchTracing(b, bc.ratio)
			run(b, tr)
		})
	}
	// The same provider options with an exporter that discards: the
	// request-path cost without the (same-process) export and receiver
	// decoding that "on" also counts.
	b.Run("on-discard", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}, sdktrace.WithMaxQueueSize(queueSize)))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		run(b, Tracer(tp))
	})
}

type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
