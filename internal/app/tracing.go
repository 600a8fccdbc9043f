package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/actiongate/actiongate/internal/telemetry"
)

// TracingConfig exports one trace per tool call (docs/tracing.md).
// Endpoint empty: tracing off.
type TracingConfig struct {
	Endpoint    string        `yaml:"endpoint"`
	Insecure    bool          `yaml:"insecure"`
	SampleRatio float64       `yaml:"sampleRatio"`
	Timeout     time.Duration `yaml:"timeout"`
	// HeadersEnv maps an export header to the environment variable
	// holding its value (an API key stays out of the file).
	HeadersEnv map[string]string `yaml:"headersEnv"`
}

// startTracing returns the tracer shared by extauthz and extproc, or nil.
func (a *App) startTracing(ctx context.Context) (trace.Tracer, error) {
	c := a.cfg.Tracing
	if c.Endpoint == "" {
		return nil, nil
	}
	headers := map[string]string{}
	for h, env := range c.HeadersEnv {
		v := os.Getenv(env)
		if v == "" {
			return nil, fmt.Errorf("tracing.headersEnv: %s is empty", env)
		}
		headers[h] = v
	}
	tp, shutdown, err := telemetry.Setup(ctx, telemetry.Config{Endpoint: c.Endpoint, Insecure: c.Insecure, Headers: headers,
		InstanceID: a.cfg.Audit.InstanceID, SampleRatio: c.SampleRatio, Timeout: c.Timeout, Logger: a.log.With("component", "tracing")})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	a.closers = append(a.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	})
	return telemetry.Tracer(tp), nil
}
