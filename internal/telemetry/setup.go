package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config is the tracing section of the service configuration.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL, e.g. http://collector:4318 or
	// https://otlp.example.com/v1/traces. A URL without a path gets
	// /v1/traces. Empty turns tracing off: a no-op provider, no exporter,
	// no goroutine.
	Endpoint string
	// Insecure must be set to export over plain http://; it is refused
	// with https:// (a contradiction, most likely a leftover).
	Insecure bool
	// Headers are sent with every export (e.g. an API key for a SaaS
	// backend). They are credentials: never logged, never in an error.
	Headers map[string]string
	// ServiceName defaults to "actiongate"; ServiceVersion to the main
	// module's version from the build info.
	ServiceName    string
	ServiceVersion string
	// InstanceID is service.instance.id (the same value audit events carry).
	InstanceID string
	// SampleRatio is the share of traces recorded, in (0, 1]; 0 means 1.
	// The gateway applies it to every trace by trace id, including traces
	// an agent started: a client cannot switch our tracing off (or on) with
	// the traceparent sampled flag. Leave Endpoint empty to record nothing.
	SampleRatio float64
	// Timeout bounds one export request (default 5s).
	Timeout time.Duration
	// Logger receives export failures (default slog.Default()).
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultServiceName = "actiongate"
	DefaultTimeout     = 5 * time.Second
	defaultTracesPath  = "/v1/traces"
	// maxAttrLen bounds every string attribute value the SDK keeps; ids,
	// names and revisions are far shorter, so only junk is cut.
	maxAttrLen = 256
	// queueSize bounds the spans waiting for export; beyond it new spans
	// are dropped, never waited for.
	queueSize = 4096
)

// Setup builds the tracer provider. The returned shutdown flushes what is
// queued and stops the exporter; call it once, with a deadline.
//
// Export never affects request handling: ending a span only enqueues it
// (non-blocking; a full queue drops the span and the SDK counts it), and
// the batch processor exports from its own goroutine with a bounded
// timeout. A backend that is down, slow or refusing costs spans, never a
// decision, and nothing here returns an export error to a caller on the
// request path. Failures go to Logger.
func Setup(ctx context.Context, cfg Config) (trace.TracerProvider, func(context.Context) error, error) {
	if cfg.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	ratio, err := sampleRatio(cfg.SampleRatio)
	if err != nil {
		return nil, nil, err
	}
	opts, err := exporterOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: creating the OTLP/HTTP exporter: %w", err)
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, nil, errors.Join(err, exp.Shutdown(ctx))
	}
	limits := sdktrace.NewSpanLimits()
	limits.AttributeValueLengthLimit = maxAttrLen
	sampler := sdktrace.TraceIDRatioBased(ratio)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(queueSize)),
		sdktrace.WithResource(res),
		sdktrace.WithSpanLimits(limits),
		// Our own ratio decides for remote parents too: the agent is not
		// trusted with our sampling. A local parent (a child span in this
		// process) follows its parent, so one trace is never half kept.
		sdktrace.WithSampler(sdktrace.ParentBased(sampler,
			sdktrace.WithRemoteParentSampled(sampler),
			sdktrace.WithRemoteParentNotSampled(sampler))),
	)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// The SDK reports export failures only through this process-wide hook.
	otel.SetErrorHandler(errorHandler{log})
	return tp, tp.Shutdown, nil
}

// Tracer returns the tracer the adapters use, tagged with this package's
// scope and the semantic-conventions version its attributes follow.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
}

// ScopeName is the instrumentation scope of every ActionGate span.
const ScopeName = "github.com/actiongate/actiongate/internal/telemetry"

func sampleRatio(r float64) (float64, error) {
	switch {
	case math.IsNaN(r) || r < 0 || r > 1:
		return 0, fmt.Errorf("tracing: sampleRatio %v is outside (0, 1]", r)
	case r == 0:
		return 1, nil
	}
	return r, nil
}

func exporterOptions(cfg Config) ([]otlptracehttp.Option, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("tracing: endpoint is not an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// Checked before any message quotes the URL: these are where
		// credentials hide (user:pass@, ?api_key=).
		return nil, errors.New("tracing: endpoint must be scheme://host[:port][/path] with no user info, query or fragment; put credentials in headers")
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host)}
	switch u.Scheme {
	case "http":
		if !cfg.Insecure {
			return nil, fmt.Errorf("tracing: endpoint %s is plain http; set insecure: true to allow it", u.String())
		}
		opts = append(opts, otlptracehttp.WithInsecure())
	case "https":
		if cfg.Insecure {
			return nil, fmt.Errorf("tracing: insecure: true contradicts the https endpoint %s", u.String())
		}
	default:
		return nil, fmt.Errorf("tracing: endpoint scheme %q is not http or https", u.Scheme)
	}
	path := u.EscapedPath()
	if path == "" || path == "/" {
		path = defaultTracesPath
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts = append(opts,
		otlptracehttp.WithURLPath(path),
		otlptracehttp.WithTimeout(timeout),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		// Retries stay within a few timeouts so a dead backend does not
		// pin a batch (and its memory) for the default minute.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: 3 * timeout,
		}),
	)
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	return opts, nil
}

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	version := cfg.ServiceVersion
	if version == "" {
		version = buildVersion()
	}
	// No resource schema URL of our own: the SDK's detector pins its own
	// (newer) one, and service.* are stable across both.
	attrs := []resource.Option{
		resource.WithTelemetrySDK(),
		// OTEL_RESOURCE_ATTRIBUTES (k8s.pod.name, deployment.environment…)
		// first, so the explicit configuration below wins.
		resource.WithFromEnv(),
	}
	kv := []resource.Option{resource.WithAttributes(semconv.ServiceName(name), semconv.ServiceVersion(version))}
	if cfg.InstanceID != "" {
		kv = append(kv, resource.WithAttributes(semconv.ServiceInstanceID(cfg.InstanceID)))
	}
	res, err := resource.New(ctx, append(attrs, kv...)...)
	if err != nil {
		return nil, fmt.Errorf("tracing: building the resource: %w", err)
	}
	return res, nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

type errorHandler struct{ log *slog.Logger }

// Handle logs an SDK error. Exporter errors name the endpoint and HTTP
// status, never the configured headers.
func (h errorHandler) Handle(err error) {
	h.log.Warn("tracing: span export failed; spans are dropped, requests are unaffected", slog.String("error", err.Error()))
}
