package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/actiongate/actiongate/internal/telemetry/otlptest"
)

func TestSetup_Config(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string // "" = ok
	}{
		{"off", Config{}, ""},
		{"http with insecure", Config{Endpoint: "http://127.0.0.1:4318", Insecure: true}, ""},
		{"https", Config{Endpoint: "https://otlp.example.com/v1/traces"}, ""},
		{"plain http needs insecure", Config{Endpoint: "http://collector:4318"}, "set insecure: true"},
		{"insecure contradicts https", Config{Endpoint: "https://collector:4318", Insecure: true}, "contradicts"},
		{"credentials in URL", Config{Endpoint: "https://user:hunter2@collector/v1/traces"}, "no user info"},
		{"key in query", Config{Endpoint: "https://collector/v1/traces?api_key=hunter2"}, "no user info"},
		{"grpc scheme", Config{Endpoint: "grpc://collector:4317"}, "not http or https"},
		{"not a URL", Config{Endpoint: "collector:4318"}, "not an absolute"},
		{"ratio above 1", Config{Endpoint: "https://c", SampleRatio: 1.5}, "outside (0, 1]"},
		{"negative ratio", Config{Endpoint: "https://c", SampleRatio: -0.1}, "outside (0, 1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp, shutdown, err := Setup(context.Background(), tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error quotes a credential: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, isNoop := tp.(noop.TracerProvider); isNoop != (tc.cfg.Endpoint == "") {
				t.Errorf("provider %T for endpoint %q", tp, tc.cfg.Endpoint)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

// Tracing off: no span, the context is untouched, and an incoming trace
// is forwarded unchanged.
func TestTracingOff(t *testing.T) {
	tp, _, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	in := "00-" + incomingTrace + "-" + incomingParent + "-01"
	ctx := ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": in}))
	got, sp := StartDecision(ctx, Tracer(tp), Call{Method: "tools/call", Tool: "x"})
	if got != ctx || sp != (Span{}) {
		t.Errorf("tracing off started a span")
	}
	if tp := Traceparent(got); tp != in {
		t.Errorf("Traceparent = %q, want the incoming %q", tp, in)
	}
	sp.Update(Call{Method: "tools/list"})
	EndDecision(sp, allowDecision())
	EndProcessing(sp, Result{HTTPStatus: 500})
	if tp := Traceparent(context.Background()); tp != "" {
		t.Errorf("Traceparent without a span = %q", tp)
	}
	_, sp = StartDecision(ctx, nil, Call{})
	EndDecision(sp, allowDecision())
	var _ trace.Tracer = Tracer(tp)
}

// A backend that hangs or refuses costs spans, never request time: ending
// spans only enqueues them.
func TestExportFailure_NeverBlocksRequests(t *testing.T) {
	for _, mode := range []string{"stalled", "refusing"} {
		t.Run(mode, func(t *testing.T) {
			logs := newLogBuffer()
			timeout := time.Minute // longer than the test: the stall holds
			if mode == "refusing" {
				timeout = 300 * time.Millisecond // retries give up within 3 timeouts
			}
			tr := newTracing(t, Config{Timeout: timeout, Headers: map[string]string{"x-api-key": "hunter2"},
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if mode == "stalled" {
				tr.rcv.Stall()
			} else {
				tr.rcv.FailWith(http.StatusServiceUnavailable)
			}
			const n = 3 * queueSize
			began := time.Now()
			for range n {
				ctx, sp := StartDecision(context.Background(), tr.tracer, Call{Method: "tools/call", Tool: "get_quote"})
				_ = Traceparent(ctx)
				EndDecision(sp, allowDecision())
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("%d decisions took %v with the backend %s: the request path waited on export", n, took, mode)
			}
			// The exporter did reach the backend: it is the backend that fails.
			if _, err := tr.rcv.WaitFor(10*time.Second, func([]otlptest.Span) bool { return tr.rcv.Requests() > 0 }, "an export attempt"); err != nil {
				t.Error(err)
			}
			if got := tr.rcv.LastHeaders().Get("x-api-key"); got != "hunter2" {
				t.Errorf("export carried x-api-key %q, want the configured header", got)
			}
			if mode == "refusing" {
				// The exporter gives up on the 503s and reports it.
				text, ok := logs.waitFor("span export failed", 10*time.Second)
				if !ok || strings.Contains(text, "hunter2") {
					t.Errorf("log %q: want the failure reported, without the header value", text)
				}
			}
			tr.rcv.Release()
			tr.rcv.FailWith(0)
		})
	}
}
