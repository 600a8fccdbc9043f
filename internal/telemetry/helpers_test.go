package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/telemetry/otlptest"
)

// tracing is a provider exporting to a real receiver through the real
// OTLP/HTTP exporter.
type tracing struct {
	tracer trace.Tracer
	rcv    *otlptest.Receiver
	// flush exports everything ended so far and stops the provider.
	flush func()
}

func newTracing(t *testing.T, cfg Config) tracing {
	t.Helper()
	rcv := otlptest.New(t)
	cfg.Endpoint, cfg.Insecure = rcv.Endpoint(), true
	if cfg.InstanceID == "" {
		cfg.InstanceID = "gw-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tp, shutdown, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	flush := func() {
		if done {
			return
		}
		done = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	t.Cleanup(flush)
	return tracing{tracer: Tracer(tp), rcv: rcv, flush: flush}
}

func headers(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func allowDecision() decision.Decision {
	return decision.Decision{
		ID: "dec-123", Outcome: decision.Allow, Reason: decision.ReasonAllowed,
		RegistryVersion: "reg-v7", PolicyRevision: "sha256:abc", Server: "quotes",
		Method: "tools/call", Tool: "get_quote",
		Principal: principal.Principal{User: "alice", Agent: "trader-bot", Tenant: "acme"},
	}
}

func wantAttrs(t *testing.T, name string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: attribute %s = %q (present %v), want %q", name, k, g, ok, v)
		}
	}
}

// benchTracing exports to a real receiver; spans the queue cannot take
// while the receiver is busy are dropped, which is production behaviour.
func benchTracing(b *testing.B, ratio float64) trace.Tracer {
	rcv := otlptest.New(b)
	tp, shutdown, err := Setup(context.Background(), Config{Endpoint: rcv.Endpoint(), Insecure: true, SampleRatio: ratio})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = shutdown(context.Background()) })
	return Tracer(tp)
}

// logBuffer is a concurrency-safe log sink that can be waited on.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func newLogBuffer() *logBuffer { return &logBuffer{written: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.written)
	l.written = make(chan struct{})
	return l.b.Write(p)
}

// waitFor waits until the log contains s, or timeout; it returns the log.
func (l *logBuffer) waitFor(s string, timeout time.Duration) (string, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		text, written := l.b.String(), l.written
		l.mu.Unlock()
		if strings.Contains(text, s) {
			return text, true
		}
		select {
		case <-written:
		case <-deadline.C:
			return text, false
		}
	}
}
