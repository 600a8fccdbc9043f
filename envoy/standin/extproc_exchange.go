package standin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

type msgKind int

const (
	kindHeaders msgKind = iota
	kindBody
)

// exchange sends one message and waits for its answer. It returns the
// answer, or a local reply, or (nil, nil) when processing has ended and
// the stream continues unprocessed (clean close, fail-open).
func (f *extProcFilter) exchange(ctx context.Context, d direction, k msgKind, req *extprocsvc.ProcessingRequest) (*extprocsvc.ProcessingResponse, *localReply) {
	ss, err := f.openSide(ctx)
	if err != nil {
		return nil, f.grpcError(err)
	}
	ss.awaitMu.Lock()
	defer ss.awaitMu.Unlock()
	sentAt := time.Now()
	ss.send(req)
	return f.awaitAnswer(ctx, d, k, sentAt)
}

// awaitAnswer waits for the answer to the message sent at sentAt and
// classifies it (PROTOCOLS.md B.1, B.4, B.5). Callers hold awaitMu.
func (f *extProcFilter) awaitAnswer(ctx context.Context, d direction, k msgKind, sentAt time.Time) (*extprocsvc.ProcessingResponse, *localReply) {
	resp, err := f.side.await(ctx, sentAt)
	switch {
	case err == nil:
	case isCleanClose(err):
		// Envoy's onGrpcClose: the server ended the stream without
		// answering, so the request continues WITHOUT processing.
		f.finish()
		return nil, nil
	case err == errMessageTimeout:
		f.finish()
		if f.cfg.failureModeAllow {
			return nil, nil
		}
		return nil, newLocalReply(http.StatusGatewayTimeout, "", "ext_proc_error_per-message_timeout_exceeded")
	default:
		return nil, f.grpcError(err)
	}
	if k == kindHeaders && f.cfg.allowModeOverride && resp.GetModeOverride() != nil {
		if err := f.overrideMode(resp.GetModeOverride()); err != nil {
			return nil, f.unimplemented(err)
		}
	}
	if ir := resp.GetImmediateResponse(); ir != nil {
		f.receiveMetadata(resp)
		f.finish()
		return nil, f.immediateReply(ir)
	}
	if !f.expected(d, k, resp) {
		return nil, f.spurious(resp)
	}
	if err := unimplementedResponse(resp); err != nil {
		return nil, f.unimplemented(err)
	}
	f.receiveMetadata(resp)
	return resp, nil
}

func (f *extProcFilter) expected(d direction, k msgKind, r *extprocsvc.ProcessingResponse) bool {
	switch {
	case k == kindHeaders:
		return headersResponseOf(d, r) != nil
	default:
		return bodyResponseOf(d, r) != nil
	}
}

func (f *extProcFilter) finish() {
	f.complete.Store(true)
	if f.side != nil {
		f.side.close()
	}
}

// grpcError: stream open failure or gRPC error. status_on_error (1.36+,
// else 500) unless failure_mode_allow.
func (f *extProcFilter) grpcError(err error) *localReply {
	f.s.p.log.Debug("ext_proc stream error", "stream", f.s.id, "err", err)
	f.finish()
	if f.cfg.failureModeAllow {
		return nil
	}
	status := http.StatusInternalServerError
	if f.s.p.atLeast(36) {
		status = f.cfg.statusOnError
	}
	return newLocalReply(status, "", "ext_proc_error_gRPC_error")
}

// spurious: an answer of the wrong type. From 1.35 it is an error that
// honours failure_mode_allow; before, Envoy just stopped processing.
func (f *extProcFilter) spurious(r *extprocsvc.ProcessingResponse) *localReply {
	f.s.p.log.Warn("ext_proc spurious response", "stream", f.s.id, "response", fmt.Sprintf("%T", r.GetResponse()))
	f.finish()
	if !f.s.p.atLeast(35) || f.cfg.failureModeAllow {
		return nil
	}
	return newLocalReply(http.StatusInternalServerError, "", "ext_proc_error_spurious_message")
}

// processingError is Envoy's answer to an invalid mutation: a 500 local
// reply and the side stream closed.
func (f *extProcFilter) processingError(msg string) *localReply {
	f.s.p.log.Debug("ext_proc processing error", "stream", f.s.id, "err", msg)
	f.finish()
	return newLocalReply(http.StatusInternalServerError, "", details(msg))
}

// unimplemented fails the request loudly when the processor uses a
// feature the stand-in does not implement, instead of ignoring it.
func (f *extProcFilter) unimplemented(err error) *localReply {
	f.s.p.stats.update(func(st *Stats) { st.Unimplemented++ })
	f.s.p.log.Error("ext_proc response uses a feature the envoy stand-in does not implement", "err", err)
	return f.processingError("standin_unimplemented")
}

func unimplementedResponse(r *extprocsvc.ProcessingResponse) error {
	var common *extprocsvc.CommonResponse
	switch x := r.GetResponse().(type) {
	case *extprocsvc.ProcessingResponse_RequestHeaders:
		common = x.RequestHeaders.GetResponse()
	case *extprocsvc.ProcessingResponse_ResponseHeaders:
		common = x.ResponseHeaders.GetResponse()
	case *extprocsvc.ProcessingResponse_RequestBody:
		common = x.RequestBody.GetResponse()
	case *extprocsvc.ProcessingResponse_ResponseBody:
		common = x.ResponseBody.GetResponse()
	}
	switch {
	case len(r.GetTypedDynamicMetadata()) > 0:
		return fmt.Errorf("typed_dynamic_metadata")
	case r.GetRequestDrain() || r.GetRequestDrainRequests() || r.GetRequestDrainResponses() || r.GetServerWindowUpdate() != nil:
		return fmt.Errorf("request_drain / flow control")
	case common.GetTrailers() != nil:
		return fmt.Errorf("common_response.trailers")
	case common.GetBodyMutation().GetStreamedResponse() != nil:
		return fmt.Errorf("body_mutation.streamed_response (FULL_DUPLEX_STREAMED only)")
	}
	return nil
}

// overrideMode applies mode_override as Envoy's effectiveModeOverride does
// from 1.34: DEFAULT header modes leave the mode unchanged, body modes are
// always copied (an override naming only one body mode sets the other to
// NONE).
func (f *extProcFilter) overrideMode(o *extprocv3.ProcessingMode) error {
	m := f.mode
	headerMode := func(cur bool, v extprocv3.ProcessingMode_HeaderSendMode) bool {
		if v == extprocv3.ProcessingMode_DEFAULT && f.s.p.atLeast(34) {
			return cur
		}
		return v != extprocv3.ProcessingMode_SKIP
	}
	m.reqHeaders = headerMode(m.reqHeaders, o.GetRequestHeaderMode())
	m.respHeaders = headerMode(m.respHeaders, o.GetResponseHeaderMode())
	m.reqBody, m.respBody = o.GetRequestBodyMode(), o.GetResponseBodyMode()
	if _, err := processingModeOf(o, "mode_override"); err != nil {
		return err
	}
	f.mode = m
	return nil
}

// receiveMetadata accepts dynamic_metadata only for the namespaces listed
// in receiving_namespaces.untyped (deny by default).
func (f *extProcFilter) receiveMetadata(r *extprocsvc.ProcessingResponse) {
	for ns, v := range r.GetDynamicMetadata().GetFields() {
		for _, allowed := range f.cfg.receiveNS {
			if ns == allowed {
				f.s.setMetadata(ns, v.GetStructValue())
			}
		}
	}
}

// immediateReply is sendImmediateResponse: status below 200 (or invalid)
// becomes 200; headers follow the raw_value rules with Envoy's permissive
// immediate-response checker, and a bad header only stops the mutation.
func (f *extProcFilter) immediateReply(ir *extprocsvc.ImmediateResponse) *localReply {
	status := int(ir.GetStatus().GetCode())
	if status < 200 || status > 599 {
		status = http.StatusOK
	}
	lr := &localReply{status: status, body: ir.GetBody(), details: details(ir.GetDetails())}
	if hm := ir.GetHeaders(); hm != nil {
		lr.mutate = func(h *headerMap) {
			if err := applyMutation(h, hm, mutationRules{allowRouting: true, allowEnvoy: true}); err != nil {
				f.s.p.log.Error("ext_proc immediate response header mutation failed", "err", err)
			}
		}
	}
	return lr
}

// applyHeaderMutation applies a CommonResponse's header mutation to the
// held headers; an invalid mutation is a 500. clear_route_cache re-selects
// the route, only in the request direction and only with a mutation.
func (f *extProcFilter) applyHeaderMutation(d direction, h *headerMap, common *extprocsvc.CommonResponse, isHeaders bool) *localReply {
	hm := common.GetHeaderMutation()
	if hm == nil {
		return nil
	}
	rules := mutationRules{
		replacing:         isHeaders && common.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE,
		skipContentLength: f.mode.removesContentLength(d),
	}
	if err := applyMutation(h, hm, rules); err != nil {
		return f.processingError(err.Error())
	}
	if common.GetClearRouteCache() && d == dirRequest {
		f.s.selectRoute(h)
	}
	return nil
}

type mutationRules struct {
	allowRouting      bool // host, :authority, :scheme, :method
	allowEnvoy        bool // x-envoy-*
	replacing         bool // CONTINUE_AND_REPLACE may change :method
	skipContentLength bool
}

func (r mutationRules) allowed(key string) bool {
	switch key {
	case "host", ":authority", ":scheme":
		return r.allowRouting
	case ":method":
		return r.allowRouting || r.replacing
	}
	if strings.HasPrefix(key, "x-envoy-") {
		return r.allowEnvoy
	}
	return true
}

// applyMutation is mutation_utils.cc: values are read from raw_value only
// (value alone gives an empty header; both set is an error); append=true
// adds an entry, otherwise the header is overwritten; disallowed headers
// and removals of pseudo-headers or host are ignored.
func applyMutation(h *headerMap, m *extprocsvc.HeaderMutation, r mutationRules) error {
	for _, o := range m.GetSetHeaders() {
		hv := o.GetHeader()
		key := strings.ToLower(hv.GetKey())
		if hv.GetValue() != "" && len(hv.GetRawValue()) > 0 {
			return fmt.Errorf("header %q has both value and raw_value", key)
		}
		value := string(hv.GetRawValue())
		if !validHeaderName(key) || !validHeaderValue(value) {
			return fmt.Errorf("invalid header %q", key)
		}
		if (r.skipContentLength && key == "content-length") || !r.allowed(key) {
			continue
		}
		if key == ":status" {
			if c, err := strconv.Atoi(value); err != nil || c < 200 || c > 599 {
				return fmt.Errorf("invalid :status %q", value)
			}
		}
		if o.GetAppend().GetValue() {
			h.add(key, value)
		} else {
			h.set(key, value)
		}
	}
	for _, k := range m.GetRemoveHeaders() {
		key := strings.ToLower(k)
		if !validHeaderName(key) && !strings.HasPrefix(key, ":") {
			return fmt.Errorf("invalid header name to remove %q", k)
		}
		if removableHeader(key) && r.allowed(key) {
			h.remove(key)
		}
	}
	if h.overLimits() {
		return fmt.Errorf("header limits exceeded after mutation")
	}
	return nil
}
