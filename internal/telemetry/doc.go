// Package telemetry exports OpenTelemetry traces of MCP tool calls: one
// trace per call across ext_authz (the decision, a SERVER span) and
// ext_proc (the forwarded call and its response, a CLIENT span), in the
// OpenTelemetry GenAI and MCP semantic conventions (v1.40.0) plus
// actiongate.* decision attributes, over OTLP/HTTP.
//
// Flow: ext_authz extracts the incoming W3C trace context
// (ContextFromHeaders, ContextFromMeta), starts its span (StartDecision),
// decides, sets the upstream request's traceparent to Traceparent(ctx) and
// ends the span (EndDecision). ext_proc extracts that traceparent from the
// request headers it sees, starts its span (StartProcessing) and ends it
// when the response is done (EndProcessing).
//
// Privacy: spans carry identifiers only. Call and Result have no field
// that could hold tool arguments, results, headers, tokens or message
// text; Span exposes no way to set an arbitrary attribute; EndDecision
// reads only typed fields of the decision (not Detail, which can quote an
// argument). The opt-in gen_ai.tool.call.arguments/result attributes are
// never emitted. docs/tracing.md lists every attribute.
package telemetry
