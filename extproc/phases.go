package extproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/telemetry"
)

// Reasons: metric labels for actiongate_extproc_errors_total and, where a
// client sees them, error.data.reason.
const (
	reasonMalformed        = string(decision.ReasonMalformed)
	reasonInternal         = string(decision.ReasonInternal)
	reasonEventTooLarge    = "response_event_too_large"
	reasonUnparsedResponse = "unparsed_response"
	reasonCompressed       = "compressed_response"
	reasonModeIgnored      = "mode_override_ignored"
	reasonUnknownMessage   = "unknown_message"
	reasonStream           = "stream_error"
)

// errUnknownMessage: Envoy sent a message kind this server does not know.
// Answering with the wrong type would be spurious, and not answering would
// stall the request, so the stream fails closed.
var errUnknownMessage = errors.New("unknown ext_proc message")

// Phase names: the phase label of actiongate_extproc_messages_total.
const (
	phaseRequestHeaders   = "request_headers"
	phaseRequestBody      = "request_body"
	phaseRequestTrailers  = "request_trailers"
	phaseResponseHeaders  = "response_headers"
	phaseResponseBody     = "response_body"
	phaseResponseTrailers = "response_trailers"
	phaseUnknown          = "unknown"
)

func phaseOf(req *extprocv3.ProcessingRequest) string {
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return phaseRequestHeaders
	case *extprocv3.ProcessingRequest_RequestBody:
		return phaseRequestBody
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return phaseRequestTrailers
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return phaseResponseHeaders
	case *extprocv3.ProcessingRequest_ResponseBody:
		return phaseResponseBody
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return phaseResponseTrailers
	}
	return phaseUnknown
}

// step runs the phase function for one message. A nil response with a nil
// error means the message expects no answer (flow-control only). An error
// means the stream must fail closed; the returned state still carries what
// was learned (ids for the error body).
func step(e *env, st state, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, state, error) {
	md := req.GetMetadataContext()
	switch r := req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return onRequestHeaders(e, st, r.RequestHeaders, md)
	case *extprocv3.ProcessingRequest_RequestBody:
		return onRequestBody(e, st, r.RequestBody, md)
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return requestTrailersResponse(), st, nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		resp, next, err := onResponseHeaders(e, st, r.ResponseHeaders)
		if err == nil {
			stripCredentialHeaders(e, &next, resp, r.ResponseHeaders.GetHeaders())
		}
		return resp, next, err
	case *extprocv3.ProcessingRequest_ResponseBody:
		return onResponseBody(e, st, r.ResponseBody)
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return responseTrailersResponse(), st, nil
	case nil:
		if req.GetFlowControlInit() != nil || req.GetClientWindowUpdate() != nil {
			return nil, st, nil
		}
	}
	return nil, st, fmt.Errorf("%w: %T", errUnknownMessage, req.GetRequest())
}

// onRequestHeaders records the request and ext_authz's decision. It strips
// accept-encoding so the upstream answers uncompressed: a gzip body cannot
// be filtered.
func onRequestHeaders(e *env, st state, h *extprocv3.HttpHeaders, md *corev3.Metadata) (*extprocv3.ProcessingResponse, state, error) {
	st.sawRequest = true
	st.started = time.Now()
	st.x.readAuthzMetadata(md)
	st.x.notes = &notes{}
	if e.registry != nil {
		if reg := e.registry(); reg != nil {
			if srv, ok := reg.Server(st.x.Server); ok {
				st.x.Class = string(srv.Classification)
			}
		}
	}
	hm := h.GetHeaders()
	st.x.HTTPMethod = header(hm, ":method")
	st.x.Path = header(hm, ":path")
	st.x.SessionID = header(hm, "mcp-session-id")
	st.x.ProtocolVersion = header(hm, "mcp-protocol-version")
	if e.tracer != nil {
		// ext_authz set traceparent on every allowed request: this span
		// continues the decision's trace.
		ctx := telemetry.ContextFromHeaders(context.Background(), func(k string) string { return header(hm, k) })
		_, st.span = telemetry.StartProcessing(ctx, e.tracer, telemetry.Call{DecisionID: st.x.DecisionID, Server: st.x.Server,
			Method: st.x.Method, Tool: st.x.Tool, SessionID: st.x.SessionID, ProtocolVersion: st.x.ProtocolVersion,
			Agent: st.x.Agent, Tenant: st.x.Tenant, Start: st.started})
	}
	mut := &extprocv3.HeaderMutation{RemoveHeaders: []string{"accept-encoding"}}
	if resp, ok := injectCredentials(e, &st, mut); !ok {
		return resp, st, nil
	}
	return requestHeadersResponse(&extprocv3.CommonResponse{HeaderMutation: mut}), st, nil
}

// onRequestBody reads the JSON-RPC message the upstream will receive.
// ext_authz already refused anything unparsable; refusing it again here is
// defence in depth, and reading it gives the response phases the id.
func onRequestBody(e *env, st state, b *extprocv3.HttpBody, md *corev3.Metadata) (*extprocv3.ProcessingResponse, state, error) {
	st.x.readAuthzMetadata(md)
	body := b.GetBody()
	if len(body) == 0 && st.x.HTTPMethod != "" && st.x.HTTPMethod != "POST" {
		return requestBodyResponse(&extprocv3.CommonResponse{}), st, nil // e.g. chunked DELETE
	}
	msg, err := mcp.Parse(body, e.maxBody)
	if err != nil {
		pe, ok := mcp.IsParseError(err)
		if !ok {
			return nil, st, fmt.Errorf("parse request body: %w", err)
		}
		e.problem(reasonMalformed)
		e.log.Warn("refusing a request body that is not one JSON-RPC message",
			"decision_id", st.x.DecisionID, "problem", string(pe.Problem))
		return rejectMalformed(st.x, pe), st, nil
	}
	if st.x.RPCID != nil && !bytes.Equal(st.x.RPCID, msg.ID) {
		e.log.Warn("ext_authz metadata and request body disagree on the JSON-RPC id; using the body's",
			"decision_id", st.x.DecisionID)
	}
	st.x.RPCID, st.x.Method, st.x.Tool = msg.ID, msg.Method, msg.ToolName
	st.span.Update(telemetry.Call{Method: msg.Method, Tool: msg.ToolName, RequestID: string(msg.ID)})
	if msg.IsToolCall() {
		st.x.Arguments = msg.Arguments
	}
	if resp, err := checkArguments(e, &st.x, msg); resp != nil || err != nil {
		if resp != nil {
			finish(e, &st, outcome{})
		}
		return resp, st, err
	}
	return requestBodyResponse(&extprocv3.CommonResponse{}), st, nil
}

// rejectMalformed is the 400 for an unreadable body: an id-less JSON-RPC
// error (the id cannot be trusted from a body we could not read).
func rejectMalformed(x exchange, pe *mcp.ParseError) *extprocv3.ProcessingResponse {
	status, code := 400, mcp.CodeInvalidRequest
	switch pe.Problem {
	case mcp.ProblemEmpty, mcp.ProblemInvalidUTF8, mcp.ProblemSyntax, mcp.ProblemTrailingData, mcp.ProblemTooDeep:
		code = mcp.CodeParseError
	case mcp.ProblemTooLarge:
		status, code = 413, mcp.CodeParseError
	}
	body := mcp.ErrorBody(nil, code, "The request is not one valid JSON-RPC message",
		&mcp.ErrorData{Reason: reasonMalformed, DecisionID: x.DecisionID, Detail: pe.Detail})
	return immediateJSON(status, body, "actiongate_malformed_request")
}

// internalError is the fail-closed answer to any message we could not
// process: 503, like ext_proc's status_on_error, with an MCP-shaped body
// that never carries the error text. Sent while the response is streaming
// it resets the HTTP stream (PROTOCOLS B.5), which is still closed.
func internalError(x exchange) *extprocv3.ProcessingResponse {
	body := mcp.ErrorBody(x.RPCID, mcp.CodeGatewayError, "The gateway could not process this request",
		&mcp.ErrorData{Reason: reasonInternal, DecisionID: x.DecisionID})
	return immediateJSON(503, body, "actiongate_internal_error")
}
