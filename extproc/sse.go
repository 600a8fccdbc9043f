package extproc

import (
	"errors"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/mcp"
)

// onSSEChunk answers one STREAMED chunk of an event stream with exactly the
// bytes of the events it completed; the partial tail waits in the
// reassembler. Response headers are already downstream, so an
// ImmediateResponse would reset the stream: failures end the stream in-band
// with one JSON-RPC error event and every later chunk is dropped.
func onSSEChunk(e *env, st state, b *extprocv3.HttpBody) (*extprocv3.ProcessingResponse, state) {
	in := b.GetBody()
	if st.sseFailed || st.sse == nil {
		return responseBodyResponse(replaceChunk(in, nil)), st
	}
	out, err := st.sse.Feed(in, b.GetEndOfStream())
	if err != nil {
		reason, msg := reasonInternal, "The gateway could not process the tool server's response"
		if errors.Is(err, mcp.ErrSSEEventTooLarge) {
			reason, msg = reasonEventTooLarge, "The tool server sent an event larger than the gateway accepts; the response was cut off"
		}
		e.problem(reason)
		e.log.Warn("ending an SSE response with an error event",
			"decision_id", st.x.DecisionID, "reason", reason, "err", err)
		out = append(out, sseErrorEvent(st.x, reason, msg)...)
		st.sseFailed, st.sse = true, nil
	}
	return responseBodyResponse(replaceChunk(in, out)), st
}

// sseErrorEvent is a complete "message" event carrying a JSON-RPC error
// for the request this stream answers, so the client fails that call
// instead of waiting for a response that will never come.
func sseErrorEvent(x exchange, reason, msg string) []byte {
	body := mcp.ErrorBody(x.RPCID, mcp.CodeGatewayError, msg,
		&mcp.ErrorData{Reason: reason, DecisionID: x.DecisionID})
	return mcp.EncodeSSEEvent("message", body)
}
