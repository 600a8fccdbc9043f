package standin

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const extAuthzNamespace = "envoy.filters.http.ext_authz"

// extAuthzConfig is one configured envoy.filters.http.ext_authz (gRPC).
type extAuthzConfig struct {
	p                 *Proxy
	name              string
	cluster           string
	timeout           time.Duration
	noTimeout         bool
	failureModeAllow  bool
	statusOnError     int
	withBody          *bufferSettings
	encodeRawHeaders  bool
	validateMutations bool
}

func (c *extAuthzConfig) filterName() string { return c.name }

func (c *extAuthzConfig) newStreamFilter(s *stream) streamFilter {
	return &extAuthzFilter{cfg: c, s: s}
}

type extAuthzFilter struct {
	cfg *extAuthzConfig
	s   *stream
	// responseHeaders are OkHttpResponse.response_headers_to_add, applied to
	// whatever response this stream sends (encodeHeaders).
	responseHeaders []*corev3.HeaderValueOption
}

func (f *extAuthzFilter) done() {}

// decode follows ext_authz.cc: no route or a disabled route skips the
// check; with a body and with_request_body the body is buffered first
// (over max_request_bytes without allow_partial_message: 413, no check).
func (f *extAuthzFilter) decode(ctx context.Context, req *request) *localReply {
	s := f.s
	if s.route == nil {
		return nil
	}
	specific, ctxExt := s.extAuthzRouteSettings(f.cfg.name)
	if specific != nil && specific.disabled {
		return nil
	}
	settings := f.cfg.withBody
	if specific != nil && specific.withBody != nil {
		settings = specific.withBody
	}
	var body []byte
	buffered, partial := false, false
	if settings != nil && req.body != nil && !(specific != nil && specific.disableBuffering) && !isUpgrade(req.headers) {
		data, eof, lr := f.bufferBody(ctx, req, settings)
		if lr != nil {
			return lr
		}
		body, buffered = data, true
		if len(body) > settings.maxBytes {
			body, partial = body[:settings.maxBytes], true
		}
		req.body = replay(data, eof, req.body)
	}
	started := time.Now()
	check := f.checkRequest(req.headers, body, buffered, partial, settings, ctxExt)
	resp, err := f.call(ctx, check)
	if ctx.Err() != nil {
		return newLocalReply(f.cfg.statusOnError, "", "ext_authz_cancelled")
	}
	return f.onResult(req, resp, err, started)
}

func (f *extAuthzFilter) bufferBody(ctx context.Context, req *request, settings *bufferSettings) ([]byte, bool, *localReply) {
	stopAt := settings.maxBytes
	if !settings.allowPartial {
		// Envoy lowers the stream's decoder buffer limit to max_request_bytes.
		f.s.decoderLimit = settings.maxBytes
		stopAt = settings.maxBytes + 1
	}
	data, eof, err := collect(ctx, req.body, stopAt)
	if err != nil {
		return nil, false, bodyErrorReply(err)
	}
	if !settings.allowPartial && len(data) > settings.maxBytes {
		return nil, false, newLocalReply(http.StatusRequestEntityTooLarge, "Payload Too Large", "request_payload_too_large")
	}
	return data, eof, nil
}

// bodyErrorReply turns a failed body read into the reply Envoy would send.
func bodyErrorReply(err error) *localReply {
	if lr, ok := asLocalReply(err); ok {
		return lr
	}
	return newLocalReply(http.StatusBadRequest, "", "downstream_protocol_error")
}

func isUpgrade(h *headerMap) bool {
	return h.has("upgrade") || h.value(":method") == http.MethodConnect
}

// checkRequest builds the CheckRequest exactly as check_request_utils.cc
// does (PROTOCOLS.md A.2).
func (f *extAuthzFilter) checkRequest(h *headerMap, body []byte, buffered, partial bool, settings *bufferSettings, ctxExt map[string]string) *authv3.CheckRequest {
	s := f.s
	httpReq := &authv3.AttributeContext_HttpRequest{
		Id:       strconv.FormatUint(s.id, 10),
		Method:   sanitizeUTF8(h.value(":method")),
		Path:     sanitizeUTF8(h.value(":path")),
		Host:     sanitizeUTF8(h.value(":authority")),
		Scheme:   sanitizeUTF8(h.value(":scheme")),
		Size:     s.bytesReceived.Load(),
		Protocol: s.protocol,
	}
	f.fillHeaders(httpReq, h)
	if buffered {
		if settings.packAsBytes {
			httpReq.RawBody = body
		} else {
			httpReq.Body = sanitizeUTF8(string(body))
		}
		f.addHeader(httpReq, "x-envoy-auth-partial-body", strconv.FormatBool(partial))
	}
	source := &authv3.AttributeContext_Peer{Address: socketAddress(s.remote)}
	if svc := h.value("x-envoy-downstream-service-cluster"); svc != "" {
		source.Service = sanitizeUTF8(svc)
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:               source,
		Destination:          &authv3.AttributeContext_Peer{Address: socketAddress(s.local)},
		Request:              &authv3.AttributeContext_Request{Time: timestamppb.New(s.start), Http: httpReq},
		ContextExtensions:    ctxExt,
		MetadataContext:      &corev3.Metadata{}, // metadata_context_namespaces is not configured
		RouteMetadataContext: &corev3.Metadata{},
	}}
}

// fillHeaders: header_map with every entry raw (encode_raw_headers), or the
// headers map with duplicates comma-joined and values UTF-8 sanitised. A
// client's own x-envoy-auth-partial-body never reaches the server.
func (f *extAuthzFilter) fillHeaders(httpReq *authv3.AttributeContext_HttpRequest, h *headerMap) {
	if f.cfg.encodeRawHeaders {
		httpReq.HeaderMap = &corev3.HeaderMap{}
	} else {
		httpReq.Headers = map[string]string{}
	}
	for _, e := range h.entries {
		if e.key == "x-envoy-auth-partial-body" {
			continue
		}
		if f.cfg.encodeRawHeaders {
			f.addHeader(httpReq, e.key, e.value)
			continue
		}
		v := sanitizeUTF8(e.value)
		if cur, ok := httpReq.Headers[e.key]; ok {
			v = cur + "," + v
		}
		httpReq.Headers[e.key] = v
	}
}

func (f *extAuthzFilter) addHeader(httpReq *authv3.AttributeContext_HttpRequest, k, v string) {
	if f.cfg.encodeRawHeaders {
		httpReq.HeaderMap.Headers = append(httpReq.HeaderMap.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		return
	}
	httpReq.Headers[k] = v
}

func socketAddress(ap netip.AddrPort) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ap.Addr().Unmap().String(),
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(ap.Port())},
	}}}
}

// call makes the unary Check with grpc_service.timeout as its deadline.
func (f *extAuthzFilter) call(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	f.s.p.stats.update(func(st *Stats) { st.ExtAuthzChecks++ })
	conn, err := f.s.p.upstreams.grpcConn(f.s.al.clusters, f.cfg.cluster)
	if err != nil {
		return nil, err
	}
	if !f.cfg.noTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.cfg.timeout)
		defer cancel()
	}
	return authv3.NewAuthorizationClient(conn).Check(ctx, req)
}

// encode adds response_headers_to_add from an OK check to the response,
// local replies included.
func (f *extAuthzFilter) encode(_ context.Context, resp *response) *localReply {
	for _, o := range f.responseHeaders {
		applyHeaderOp(resp.headers, responseHeaderOp(o), strings.ToLower(o.GetHeader().GetKey()), o.GetHeader().GetValue())
	}
	return nil
}
