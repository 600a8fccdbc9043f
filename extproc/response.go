package extproc

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	extprocfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/outguard"
)

// onResponseHeaders chooses how the response body will be processed and
// tells Envoy through mode_override: a JSON-RPC response is buffered whole
// so it can be rewritten as one message; an event stream stays STREAMED
// (buffering a stream that may never end would stall it) and is reassembled
// into events; anything else streams through untouched.
func onResponseHeaders(e *env, st state, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, state, error) {
	hm := h.GetHeaders()
	st.status, _ = strconv.Atoi(header(hm, ":status"))
	if !st.sawRequest {
		// A local reply (ext_authz denial, Envoy 413/503) that never passed
		// our request phases: nothing of ours to filter.
		st.respBody = bodyPassthrough
		return responseHeadersResponse(nil), st, nil
	}
	if h.GetEndOfStream() {
		st.respBody = bodyNone
		finish(e, &st, outcome{})
		return responseHeadersResponse(nil), st, nil
	}
	ct := mediaType(header(hm, "content-type"))
	if enc := header(hm, "content-encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		// We asked for identity by removing accept-encoding; an upstream
		// that compresses anyway cannot be inspected.
		e.problem(reasonCompressed)
		if e.guard != nil {
			e.log.Warn("upstream response is compressed despite no accept-encoding; withholding it (the output policy cannot read it)",
				"decision_id", st.x.DecisionID, "content_encoding", enc)
			st.x.notes.Blocked = outguard.ReasonUnreadable
			finish(e, &st, outcome{})
			return immediateJSON(502, withheldBody(&st.x, &outguard.Blocked{Reason: outguard.ReasonUnreadable,
				Detail: "the tool server compressed its response"}), "actiongate_compressed_response"), st, nil
		}
		e.log.Warn("upstream response is compressed despite no accept-encoding; passing it through uninspected",
			"decision_id", st.x.DecisionID, "content_encoding", enc, "content_type", ct)
		st.respBody = bodyPassthrough
		return responseHeadersResponse(responseBodyMode(extprocfv3.ProcessingMode_STREAMED)), st, nil
	}
	switch ct {
	case "application/json":
		st.respBody = bodyJSON
		return responseHeadersResponse(responseBodyMode(extprocfv3.ProcessingMode_BUFFERED)), st, nil
	case "text/event-stream":
		st.respBody = bodySSE
		x := st.x // the hook sees the exchange as it was when the stream began
		st.sse = mcp.NewSSEReassembler(e.maxEvent, func(ev *mcp.SSEEvent) ([]byte, error) {
			return e.transformEvent(&x, ev)
		})
		return responseHeadersResponse(responseBodyMode(extprocfv3.ProcessingMode_STREAMED)), st, nil
	}
	if e.guard != nil {
		// MCP answers in JSON or SSE; anything else from a tool server
		// (an HTML error page, plain text) cannot be checked, so it is
		// replaced rather than passed on unread.
		st.respBody = bodyWithheld
		return responseHeadersResponse(responseBodyMode(extprocfv3.ProcessingMode_BUFFERED)), st, nil
	}
	st.respBody = bodyPassthrough
	return responseHeadersResponse(responseBodyMode(extprocfv3.ProcessingMode_STREAMED)), st, nil
}

func onResponseBody(e *env, st state, b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, state, error) {
	switch st.respBody {
	case bodyJSON:
		return onJSONBody(e, st, b)
	case bodySSE:
		resp, next := onSSEChunk(e, st, b)
		if b.GetEndOfStream() {
			finish(e, &next, outcome{})
		}
		return resp, next, nil
	case bodyWithheld:
		return onWithheldBody(e, st, b)
	}
	if b.GetEndOfStream() {
		finish(e, &st, outcome{})
	}
	return responseBodyResponse(&extprocv3.CommonResponse{}), st, nil
}

// onJSONBody handles the whole buffered JSON-RPC response. What we cannot
// read we pass on unchanged: we only transform what we understand, and the
// client's own parser will reject garbage.
func onJSONBody(e *env, st state, b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, state, error) {
	body := b.GetBody()
	if !b.GetEndOfStream() {
		// BUFFERED delivers one message at end of stream; a partial one means
		// Envoy did not apply our mode override.
		e.problem(reasonModeIgnored)
		e.log.Warn("JSON response body arrived in pieces; the BUFFERED mode override was not applied",
			"decision_id", st.x.DecisionID, "bytes", len(body))
		st.respBody = bodyPassthrough
		return responseBodyResponse(&extprocv3.CommonResponse{}), st, nil
	}
	msg, err := mcp.Parse(body, e.maxBody)
	if err != nil {
		problem := "unknown"
		if pe, ok := mcp.IsParseError(err); ok {
			problem = string(pe.Problem)
		}
		e.problem(reasonUnparsedResponse)
		if e.guard != nil {
			e.log.Warn("upstream JSON response is not one JSON-RPC message; withholding it",
				"decision_id", st.x.DecisionID, "status", st.status, "problem", problem)
			record(e, &st.x, outguard.Outcome{Blocked: &outguard.Blocked{Reason: outguard.ReasonUnreadable}})
			finish(e, &st, outcome{})
			return responseBodyResponse(replaceWholeBody(withheldBody(&st.x, &outguard.Blocked{Reason: outguard.ReasonUnreadable,
				Detail: "the tool server's response is not one JSON-RPC message"}))), st, nil
		}
		e.log.Warn("upstream JSON response is not one JSON-RPC message; passing it unchanged",
			"decision_id", st.x.DecisionID, "status", st.status, "problem", problem)
		return responseBodyResponse(&extprocv3.CommonResponse{}), st, nil
	}
	out, err := e.transformJSON(&st.x, msg, body)
	if err != nil {
		return nil, st, fmt.Errorf("transform JSON response: %w", err)
	}
	finish(e, &st, outcome{errorType: errorTypeOf(out), output: out})
	if bytes.Equal(out, body) {
		return responseBodyResponse(&extprocv3.CommonResponse{}), st, nil
	}
	return responseBodyResponse(replaceWholeBody(out)), st, nil
}

// onWithheldBody replaces a response body of a type the output policy
// cannot read with a JSON-RPC error. An empty body stays empty.
func onWithheldBody(e *env, st state, b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, state, error) {
	if len(b.GetBody()) == 0 {
		return responseBodyResponse(&extprocv3.CommonResponse{}), st, nil
	}
	blocked := &outguard.Blocked{Reason: outguard.ReasonUnreadable, Detail: "the tool server answered with a body that is neither JSON nor an event stream"}
	record(e, &st.x, outguard.Outcome{Blocked: blocked})
	finish(e, &st, outcome{})
	c := replaceWholeBody(withheldBody(&st.x, blocked))
	c.HeaderMutation.SetHeaders = append(c.HeaderMutation.SetHeaders, hv("content-type", "application/json"))
	return responseBodyResponse(c), st, nil
}
