package telemetry

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/actiongate/actiongate/internal/decision"
)

// ActionGate's own attributes (semantic conventions have no gateway
// decision attributes; docs/tracing.md has the table).
const (
	AttrDecisionID      = attribute.Key("actiongate.decision.id")
	AttrDecisionOutcome = attribute.Key("actiongate.decision.outcome")
	AttrDecisionReason  = attribute.Key("actiongate.decision.reason")
	AttrServer          = attribute.Key("actiongate.server")
	AttrTenant          = attribute.Key("actiongate.tenant")
	AttrPolicyRevision  = attribute.Key("actiongate.policy.revision")
	AttrRegistryVersion = attribute.Key("actiongate.registry.version")
	AttrRedactions      = attribute.Key("actiongate.redactions")
)

// Call names one MCP exchange. Every field is an identifier: there is no
// field for arguments, results, headers, tokens or free text, and no way
// to pass an attribute through, so a span cannot carry them. Empty fields
// are not recorded.
type Call struct {
	DecisionID      string // actiongate.decision.id (same id as the audit event)
	Server          string // actiongate.server: the registry server id
	Method          string // mcp.method.name
	Tool            string // gen_ai.tool.name (tools/call)
	RequestID       string // jsonrpc.request.id, string form (mcp.IDString)
	SessionID       string // mcp.session.id (Mcp-Session-Id; not a credential in MCP)
	ProtocolVersion string // mcp.protocol.version
	ToolCallID      string // gen_ai.tool.call.id, when the agent propagates it
	Agent           string // gen_ai.agent.id
	Tenant          string // actiongate.tenant
	PolicyRevision  string // actiongate.policy.revision
	// Start back-dates the span (zero: now), for adapters that learn the
	// names only after the work the span should cover.
	Start time.Time
}

// Span is a started ActionGate span. Its zero value (tracing off) is
// valid and does nothing. It deliberately exposes no SetAttributes.
type Span struct {
	s    trace.Span
	name string // as last set, so ending renames only when it changed
}

// Span kinds.
//
// The ext_authz span is SERVER: it is the gateway's handling of the
// inbound MCP request, the server side of the agent's MCP CLIENT span
// (the MCP conventions' server span, and their advice for gateways: one
// SERVER span per inbound request). Envoy's gRPC hop is transport, not a
// separate operation worth a span of its own.
//
// The ext_proc span is CLIENT: it runs from the forwarded request's
// headers to the end of the upstream response, i.e. it is the gateway's
// outbound MCP call to the upstream server, whose SERVER span nests under
// it when ext_proc forwards Traceparent of this span. CLIENT→SERVER pairs
// are what trace backends draw service-graph edges from, so the graph
// shows agent → actiongate → upstream server.
var (
	decisionStart   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	processingStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

// StartDecision starts the ext_authz span for c under ctx (see
// ContextFromHeaders). The returned context carries it: pass it to
// Traceparent and to anything that starts child spans.
func StartDecision(ctx context.Context, tracer trace.Tracer, c Call) (context.Context, Span) {
	return start(ctx, tracer, c, decisionStart)
}

// StartProcessing starts the ext_proc span for c. Start it when the
// request headers arrive (their traceparent, set by ext_authz, is the
// parent) and end it with EndProcessing when the response is done.
func StartProcessing(ctx context.Context, tracer trace.Tracer, c Call) (context.Context, Span) {
	return start(ctx, tracer, c, processingStart)
}

func start(ctx context.Context, tracer trace.Tracer, c Call, opts []trace.SpanStartOption) (context.Context, Span) {
	if tracer == nil {
		return ctx, Span{}
	}
	if _, off := tracer.(noop.Tracer); off {
		// Tracing off: no span, no context; Traceparent(ctx) still
		// forwards an incoming trace unchanged.
		return ctx, Span{}
	}
	if !c.Start.IsZero() {
		opts = append(opts[:len(opts):len(opts)], trace.WithTimestamp(c.Start))
	}
	name := spanName(c.Method, c.Tool, true)
	ctx, s := tracer.Start(ctx, name, opts...)
	sp := Span{s: s, name: name}
	if s.IsRecording() {
		sp.set(c)
	}
	return ctx, sp
}

// Update records names learned after the span started (e.g. the method,
// tool and JSON-RPC id once the body is parsed) and renames the span.
func (sp *Span) Update(c Call) {
	if sp.s == nil || !sp.s.IsRecording() {
		return
	}
	sp.set(c)
	if c.Method != "" {
		sp.rename(c.Method, c.Tool, true)
	}
}

func (sp *Span) rename(method, tool string, withTarget bool) {
	if !nameIs(sp.name, method, tool, withTarget) {
		sp.name = spanName(method, tool, withTarget)
		sp.s.SetName(sp.name)
	}
}

func (sp *Span) set(c Call) {
	var buf [12]attribute.KeyValue
	if a := appendCall(buf[:0], c); len(a) > 0 {
		sp.s.SetAttributes(a...)
	}
}

func appendCall(a []attribute.KeyValue, c Call) []attribute.KeyValue {
	switch c.Method {
	case "":
	case "GET", "DELETE":
		// A bodiless Streamable HTTP request (server stream, session
		// end): an HTTP method, not an MCP one.
		a = append(a, semconv.HTTPRequestMethodKey.String(c.Method))
	case methodToolsCall:
		a = append(a, semconv.McpMethodNameToolsCall, semconv.GenAIOperationNameExecuteTool)
	default:
		a = append(a, semconv.McpMethodNameKey.String(c.Method))
	}
	a = appendString(a, semconv.GenAIToolNameKey, c.Tool)
	a = appendString(a, AttrDecisionID, c.DecisionID)
	a = appendString(a, AttrServer, c.Server)
	a = appendString(a, semconv.JSONRPCRequestIDKey, c.RequestID)
	a = appendString(a, semconv.McpSessionIDKey, c.SessionID)
	a = appendString(a, semconv.McpProtocolVersionKey, c.ProtocolVersion)
	a = appendString(a, semconv.GenAIToolCallIDKey, c.ToolCallID)
	a = appendString(a, semconv.GenAIAgentIDKey, c.Agent)
	a = appendString(a, AttrTenant, c.Tenant)
	return appendString(a, AttrPolicyRevision, c.PolicyRevision)
}

func appendString(a []attribute.KeyValue, k attribute.Key, v string) []attribute.KeyValue {
	if v == "" {
		return a
	}
	return append(a, k.String(v))
}

// EndDecision records what ext_authz decided and ends the span. Anything
// but allow sets error.type to the reason and the status to Error: the
// tool call did not run. Only typed fields of d are read: never Detail
// (it can quote a schema violation, i.e. an argument), PolicyReasons,
// Obligations, the user, the task or the token id.
func EndDecision(sp Span, d decision.Decision) {
	if sp.s == nil {
		return
	}
	if sp.s.IsRecording() {
		// One SetAttributes: each call grows the SDK's attribute slice.
		var buf [16]attribute.KeyValue
		a := appendCall(buf[:0], Call{
			DecisionID: d.ID, Server: d.Server, Method: d.Method, Tool: d.Tool,
			Agent: d.Principal.Agent, Tenant: d.Principal.Tenant, PolicyRevision: d.PolicyRevision,
		})
		a = append(a,
			AttrDecisionOutcome.String(string(d.Outcome)),
			AttrDecisionReason.String(string(d.Reason)))
		a = appendString(a, AttrRegistryVersion, d.RegistryVersion)
		if !d.Allowed() {
			a = append(a, semconv.ErrorTypeKey.String(errorType(string(d.Reason))))
			sp.s.SetStatus(codes.Error, string(d.Reason))
		}
		sp.s.SetAttributes(a...)
		if d.Method != "" {
			// A tool the registry does not know is attacker-chosen text:
			// keep it out of the span name (cardinality, and it could
			// smuggle anything); the capped attribute still shows it.
			sp.rename(d.Method, d.Tool, d.Reason != decision.ReasonUnknownTool)
		}
	}
	sp.s.End()
}

// Result is what ext_proc observed of the response. As with Call, there
// is no field for content.
type Result struct {
	// HTTPStatus is the status sent to the client (0: unknown).
	HTTPStatus int
	// RPCErrorCode is the JSON-RPC error code of the response, upstream's
	// or ours (0: not an error response).
	RPCErrorCode int
	// ToolError: a CallToolResult with isError true (the MCP conventions'
	// error.type "tool_error").
	ToolError bool
	// ErrorType is the gateway's own reason code for failing or blocking
	// the response (decision.ReasonInternal, an output-guard reason…): a
	// stable constant, never message text (anything not shaped like an
	// identifier is recorded as "_OTHER"). It wins over the others.
	ErrorType decision.Reason
	// Redactions counts values the redactor replaced in the response.
	Redactions int
}

// EndProcessing records r and ends the ext_proc span. error.type is, in
// order: r.ErrorType, the JSON-RPC error code, "tool_error", an HTTP 5xx
// status. The JSON-RPC error message is never recorded (upstream text
// can echo arguments).
func EndProcessing(sp Span, r Result) {
	if sp.s == nil {
		return
	}
	if sp.s.IsRecording() {
		var buf [5]attribute.KeyValue
		a := buf[:0]
		if r.HTTPStatus != 0 {
			a = append(a, semconv.HTTPResponseStatusCode(r.HTTPStatus))
		}
		if r.RPCErrorCode != 0 {
			a = append(a, semconv.RPCResponseStatusCode(strconv.Itoa(r.RPCErrorCode)))
		}
		if r.Redactions > 0 {
			a = append(a, AttrRedactions.Int(r.Redactions))
		}
		et := ""
		switch {
		case r.ErrorType != "":
			et = errorType(string(r.ErrorType))
		case r.RPCErrorCode != 0:
			et = strconv.Itoa(r.RPCErrorCode)
		case r.ToolError:
			et = "tool_error"
		case r.HTTPStatus >= 500:
			et = strconv.Itoa(r.HTTPStatus)
		}
		if et != "" {
			a = append(a, semconv.ErrorTypeKey.String(et))
			sp.s.SetStatus(codes.Error, et)
		}
		if len(a) > 0 {
			sp.s.SetAttributes(a...)
		}
	}
	sp.s.End()
}

// errorType keeps error.type a low-cardinality identifier: anything that
// does not look like one (a caller passing message text by mistake)
// becomes "_OTHER".
func errorType(s string) string {
	if len(s) > 64 {
		return "_OTHER"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "_OTHER"
		}
	}
	return s
}
