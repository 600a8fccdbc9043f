package standin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// extProcConfig is one configured envoy.filters.http.ext_proc (gRPC).
type extProcConfig struct {
	p                 *Proxy
	name              string
	cluster           string
	failureModeAllow  bool
	statusOnError     int
	messageTimeout    time.Duration
	maxMessageTimeout time.Duration
	allowModeOverride bool
	mode              processingMode
	forwardNS         []string
	receiveNS         []string
}

type processingMode struct {
	reqHeaders, respHeaders bool // SEND
	reqBody, respBody       extprocv3.ProcessingMode_BodySendMode
}

type direction int

const (
	dirRequest direction = iota
	dirResponse
)

func (d direction) String() string {
	if d == dirRequest {
		return "request"
	}
	return "response"
}

func (m processingMode) sendHeaders(d direction) bool {
	if d == dirRequest {
		return m.reqHeaders
	}
	return m.respHeaders
}

func (m processingMode) body(d direction) extprocv3.ProcessingMode_BodySendMode {
	if d == dirRequest {
		return m.reqBody
	}
	return m.respBody
}

// removesContentLength: Envoy drops content-length in every mode where the
// body it forwards may differ from what the headers announced.
func (m processingMode) removesContentLength(d direction) bool {
	switch m.body(d) {
	case extprocv3.ProcessingMode_STREAMED, extprocv3.ProcessingMode_BUFFERED_PARTIAL, extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		return true
	case extprocv3.ProcessingMode_BUFFERED:
		return !m.sendHeaders(d)
	}
	return false
}

func (c *extProcConfig) filterName() string { return c.name }

func (c *extProcConfig) newStreamFilter(s *stream) streamFilter {
	f := &extProcFilter{cfg: c, s: s, mode: c.mode}
	if s.extProcDisabled(c.name) {
		f.mode = processingMode{} // Envoy's allDisabledMode: headers SKIP, bodies NONE
	}
	return f
}

type extProcFilter struct {
	cfg  *extProcConfig
	s    *stream
	mode processingMode
	side *sideStream
	// complete is Envoy's processing_complete_: after an immediate
	// response, a clean close, an error or a fail-open, nothing more is
	// sent and the stream continues unprocessed.
	complete atomic.Bool
}

func (f *extProcFilter) decode(ctx context.Context, req *request) *localReply {
	return f.process(ctx, dirRequest, req.headers, &req.body)
}

func (f *extProcFilter) encode(ctx context.Context, resp *response) *localReply {
	return f.process(ctx, dirResponse, resp.headers, &resp.body)
}

func (f *extProcFilter) done() {
	f.complete.Store(true)
	if f.side != nil {
		f.side.close()
	}
}

func (f *extProcFilter) bufferLimit(d direction) int {
	if d == dirRequest {
		return f.s.decoderLimit
	}
	return f.s.encoderLimit
}

// process runs one direction: the headers message (body data keeps
// arriving meanwhile and is held), then the body per the effective mode.
func (f *extProcFilter) process(ctx context.Context, d direction, h *headerMap, body *bodySource) *localReply {
	if f.complete.Load() {
		return nil
	}
	var held *pump
	headersSent := f.mode.sendHeaders(d)
	if headersSent {
		if *body != nil {
			held = startPump(ctx, *body, f.bufferLimit(d))
			*body = held
		}
		removeCL := f.mode.removesContentLength(d)
		resp, lr := f.exchange(ctx, d, kindHeaders, headersMessage(d, h, *body == nil))
		if removeCL && !f.complete.Load() {
			h.remove("content-length")
		}
		if lr != nil || resp == nil {
			return lr
		}
		common := headersResponseOf(d, resp).GetResponse()
		if lr := f.applyHeaderMutation(d, h, common, true); lr != nil {
			return lr
		}
		if common.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE {
			f.replaceBody(d, h, common, body)
			return nil
		}
	} else if f.mode.removesContentLength(d) {
		h.remove("content-length")
	}
	if *body == nil || f.complete.Load() {
		return nil
	}
	switch f.mode.body(d) {
	case extprocv3.ProcessingMode_BUFFERED:
		return f.bufferedBody(ctx, d, h, body, headersSent)
	case extprocv3.ProcessingMode_STREAMED:
		if held != nil && held.complete() && f.s.p.opts.ChunkSplitter == nil {
			// The whole body arrived while the headers answer was pending:
			// Envoy then sends it as one buffered message (processor_state.cc).
			// With a ChunkSplitter the test asks for arbitrary boundaries,
			// as when the same body arrives after the answer: stream it.
			return f.bufferedBody(ctx, d, h, body, headersSent)
		}
		if _, err := f.openSide(ctx); err != nil {
			return f.grpcError(err)
		}
		*body = &streamedBody{f: f, dir: d, src: *body}
	}
	return nil
}

// replaceBody is CONTINUE_AND_REPLACE in a headers answer: the body is
// replaced by the mutation, content-length dropped, and nothing more of
// this direction goes to the processor.
func (f *extProcFilter) replaceBody(d direction, h *headerMap, common *extprocsvc.CommonResponse, body *bodySource) {
	if common.GetBodyMutation() == nil {
		return
	}
	h.remove("content-length")
	*body = &bytesBody{data: applyBodyMutation(nil, common.GetBodyMutation())}
	if d == dirRequest {
		f.mode.reqBody = extprocv3.ProcessingMode_NONE
	} else {
		f.mode.respBody = extprocv3.ProcessingMode_NONE
	}
}

// bufferedBody sends the whole body as one message (BUFFERED). Over the
// buffer limit a request gets 413 and a response 500, as in Envoy.
func (f *extProcFilter) bufferedBody(ctx context.Context, d direction, h *headerMap, body *bodySource, headersHeld bool) *localReply {
	limit := f.bufferLimit(d)
	data, _, err := collect(ctx, *body, limit+1)
	if err != nil {
		return bodyErrorReply(err)
	}
	if len(data) > limit {
		if d == dirRequest {
			return newLocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", "request_payload_too_large")
		}
		return newLocalReply(http.StatusInternalServerError, "Internal Server Error", "response_payload_too_large")
	}
	*body = &bytesBody{data: data}
	resp, lr := f.exchange(ctx, d, kindBody, bodyMessage(d, data, true))
	if lr != nil || resp == nil {
		return lr
	}
	common := bodyResponseOf(d, resp).GetResponse()
	if headersHeld {
		if lr := f.applyHeaderMutation(d, h, common, false); lr != nil {
			return lr
		}
	}
	if bm := common.GetBodyMutation(); bm != nil {
		data = applyBodyMutation(data, bm)
		if cl, ok := h.get("content-length"); ok && cl != strconv.Itoa(len(data)) {
			return f.processingError("mismatch between content length and the length of the mutated body")
		}
		*body = &bytesBody{data: data}
	}
	return nil
}

func applyBodyMutation(data []byte, bm *extprocsvc.BodyMutation) []byte {
	switch m := bm.GetMutation().(type) {
	case *extprocsvc.BodyMutation_Body:
		return m.Body
	case *extprocsvc.BodyMutation_ClearBody:
		if m.ClearBody {
			return nil
		}
	}
	return data
}

func headersMessage(d direction, h *headerMap, endOfStream bool) *extprocsvc.ProcessingRequest {
	hh := &extprocsvc.HttpHeaders{Headers: h.toProto(), EndOfStream: endOfStream}
	if d == dirRequest {
		return &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestHeaders{RequestHeaders: hh}}
	}
	return &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseHeaders{ResponseHeaders: hh}}
}

func bodyMessage(d direction, data []byte, endOfStream bool) *extprocsvc.ProcessingRequest {
	hb := &extprocsvc.HttpBody{Body: data, EndOfStream: endOfStream}
	if d == dirRequest {
		return &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{RequestBody: hb}}
	}
	return &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: hb}}
}

func headersResponseOf(d direction, r *extprocsvc.ProcessingResponse) *extprocsvc.HeadersResponse {
	if d == dirRequest {
		return r.GetRequestHeaders()
	}
	return r.GetResponseHeaders()
}

func bodyResponseOf(d direction, r *extprocsvc.ProcessingResponse) *extprocsvc.BodyResponse {
	if d == dirRequest {
		return r.GetRequestBody()
	}
	return r.GetResponseBody()
}

// details are Envoy's response code details: spaces become underscores.
func details(s string) string { return strings.ReplaceAll(s, " ", "_") }
