package extproc

import (
	"bytes"
	"mime"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// Builders for the ProcessingResponse shapes Envoy accepts. Every header
// value goes in raw_value only: Envoy reads nothing else, and a value in
// both fields is an error (PROTOCOLS B.6).

func hv(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
}

// header returns the first value of lower-case key k. value is read only as
// a fallback for Envoys started with send_header_raw_value off.
func header(hm *corev3.HeaderMap, k string) string {
	for _, h := range hm.GetHeaders() {
		if h.GetKey() == k {
			if rv := h.GetRawValue(); len(rv) > 0 {
				return string(rv)
			}
			return h.GetValue()
		}
	}
	return ""
}

// mediaType returns the lower-case media type without parameters, or "" when
// the header is absent or unparsable.
func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

func requestHeadersResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: c}}}
}

// responseHeadersResponse answers response_headers; mode may be nil.
func responseHeadersResponse(mode *extprocfv3.ProcessingMode) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response:     &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}},
		ModeOverride: mode,
	}
}

func requestBodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
		RequestBody: &extprocv3.BodyResponse{Response: c}}}
}

func responseBodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
		ResponseBody: &extprocv3.BodyResponse{Response: c}}}
}

func requestTrailersResponse() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
		RequestTrailers: &extprocv3.TrailersResponse{}}}
}

func responseTrailersResponse() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
		ResponseTrailers: &extprocv3.TrailersResponse{}}}
}

// responseBodyMode overrides how the rest of the response body is sent.
// Envoy copies both body modes from any override (a missing one becomes
// NONE), so the request mode is restated with the value our filter config
// uses; header and trailer modes stay DEFAULT, which means unchanged.
func responseBodyMode(m extprocfv3.ProcessingMode_BodySendMode) *extprocfv3.ProcessingMode {
	return &extprocfv3.ProcessingMode{
		RequestBodyMode:  extprocfv3.ProcessingMode_BUFFERED,
		ResponseBodyMode: m,
	}
}

// replaceWholeBody is the CommonResponse for a BUFFERED body we rewrote.
// Envoy keeps content-length in BUFFERED+SEND mode and rejects a mutated
// body whose length disagrees (local reply 500), so it is set in the same
// response.
func replaceWholeBody(body []byte) *extprocv3.CommonResponse {
	return &extprocv3.CommonResponse{
		HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			hv("content-length", strconv.Itoa(len(body))),
		}},
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}},
	}
}

// replaceChunk is the CommonResponse for one STREAMED chunk whose bytes we
// forward as out. Unchanged chunks carry no mutation. An empty out uses
// clear_body: Envoy drains the chunk for it and for an empty body alike
// (mutation_utils.cc applyBodyMutations), but an empty body is told apart
// from "no mutation" only by oneof presence; any peer that loses it would
// forward the original bytes now and our reassembled copy later.
func replaceChunk(in, out []byte) *extprocv3.CommonResponse {
	switch {
	case bytes.Equal(in, out):
		return &extprocv3.CommonResponse{}
	case len(out) == 0:
		return &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{
			Mutation: &extprocv3.BodyMutation_ClearBody{ClearBody: true}}}
	}
	return &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{
		Mutation: &extprocv3.BodyMutation_Body{Body: out}}}
}

// immediateJSON answers the HTTP request locally with a JSON body. details
// shows up in Envoy's access log (%RESPONSE_CODE_DETAILS%); it must be a
// fixed token, never error text.
func immediateJSON(status int, body []byte, details string) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
				hv("content-type", "application/json"),
			}},
			Body:    body,
			Details: details,
		}}}
}
