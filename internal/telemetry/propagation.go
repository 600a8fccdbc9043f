package telemetry

import (
	"context"
	"encoding/hex"
	"encoding/json"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// W3C Trace Context header names (lower case, as Envoy forwards them).
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

var w3c propagation.TraceContext

// getter adapts a header lookup to the propagator's carrier; a func value
// is pointer-shaped, so the conversion does not allocate.
type getter func(string) string

func (g getter) Get(k string) string { return g(k) }
func (getter) Set(string, string)    {}
func (getter) Keys() []string        { return nil }

// ContextFromHeaders returns ctx carrying the remote span context named by
// the traceparent (and tracestate) header get returns, or ctx unchanged
// when there is none or it is malformed (a bad traceparent starts a new
// trace; it never fails a request). get receives lower-case names:
// ext_authz passes its header map, ext_proc its request headers, both
// after Envoy's (and, for ext_proc, ext_authz's) mutations.
func ContextFromHeaders(ctx context.Context, get func(string) string) context.Context {
	if get == nil || get(HeaderTraceparent) == "" {
		return ctx
	}
	return w3c.Extract(ctx, getter(get))
}

// ContextFromMeta is ContextFromHeaders for the traceparent/tracestate
// keys of an MCP request's params._meta (raw JSON, as internal/mcp keeps
// it), where the MCP semantic conventions carry trace context. Call it
// after ContextFromHeaders: a valid _meta context wins, as those
// conventions prescribe. Only those two string members are read.
func ContextFromMeta(ctx context.Context, meta []byte) context.Context {
	if len(meta) == 0 {
		return ctx
	}
	var m struct {
		Traceparent string `json:"traceparent"`
		Tracestate  string `json:"tracestate"`
	}
	if json.Unmarshal(meta, &m) != nil || m.Traceparent == "" {
		return ctx
	}
	return w3c.Extract(ctx, getter(func(k string) string {
		if k == HeaderTraceparent {
			return m.Traceparent
		}
		return m.Tracestate
	}))
}

// Traceparent renders the span context in ctx (normally the span just
// started) as a W3C traceparent value, "" when there is none. ext_authz
// sets it on the upstream request so ext_proc, which sees the mutated
// headers, and the upstream server continue this trace under this span.
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	var b [55]byte // "00-" 32 "-" 16 "-" 2
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	// Only the flags W3C defines (sampled, random) travel on.
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}

// Tracestate is the tracestate to forward with Traceparent, "" if none.
func Tracestate(ctx context.Context) string {
	return trace.SpanContextFromContext(ctx).TraceState().String()
}
