package standin

import (
	"fmt"
	"net"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

func (p *Proxy) parseListener(l *listenerv3.Listener) (*listenerConfig, error) {
	path := fmt.Sprintf("listener %q", l.GetName())
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil || net.ParseIP(sa.GetAddress()) == nil {
		return nil, fmt.Errorf("%s.address: socket_address with an IP address is required", path)
	}
	out := &listenerConfig{
		name:        l.GetName(),
		address:     net.JoinHostPort(sa.GetAddress(), fmt.Sprint(sa.GetPortValue())),
		bufferLimit: defaultBufferLimit,
	}
	if bl := l.GetPerConnectionBufferLimitBytes(); bl != nil {
		out.bufferLimit = int(bl.GetValue())
	}
	if len(l.GetFilterChains()) != 1 || len(l.GetFilterChains()[0].GetFilters()) != 1 {
		return nil, fmt.Errorf("%s.filter_chains: the stand-in implements exactly one chain with one filter (the HCM)", path)
	}
	f := l.GetFilterChains()[0].GetFilters()[0]
	fpath := path + ".filter_chains[0].filters[0]"
	inner, err := unpackAny(f.GetTypedConfig(), fpath)
	if err != nil {
		return nil, err
	}
	hcm, ok := inner.(*hcmv3.HttpConnectionManager)
	if !ok {
		return nil, fmt.Errorf("%s: network filter %s is not implemented", fpath, f.GetTypedConfig().GetTypeUrl())
	}
	out.hcm, err = p.parseHCM(hcm, fpath)
	return out, err
}

func (p *Proxy) parseHCM(h *hcmv3.HttpConnectionManager, path string) (*hcmConfig, error) {
	out := &hcmConfig{
		generateRequestID:     h.GetGenerateRequestId() == nil || h.GetGenerateRequestId().GetValue(),
		normalizePath:         h.GetNormalizePath().GetValue(),
		mergeSlashes:          h.GetMergeSlashes(),
		streamIdleTimeout:     durationOr(h.GetStreamIdleTimeout(), 5*time.Minute),
		requestHeadersTimeout: durationOr(h.GetRequestHeadersTimeout(), 0),
		filterNames:           map[string]filterKind{},
	}
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO:
		out.codecAuto = true
	case hcmv3.HttpConnectionManager_HTTP1:
	default:
		return nil, fmt.Errorf("%s.codec_type: %s is not implemented", path, h.GetCodecType())
	}
	switch h.GetPathWithEscapedSlashesAction() {
	case hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT, hcmv3.HttpConnectionManager_KEEP_UNCHANGED:
		out.escapedSlashes = slashesKeep
	case hcmv3.HttpConnectionManager_REJECT_REQUEST:
		out.escapedSlashes = slashesReject
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD:
		out.escapedSlashes = slashesUnescapeAndForward
	default:
		return nil, fmt.Errorf("%s.path_with_escaped_slashes_action: %s is not implemented", path, h.GetPathWithEscapedSlashesAction())
	}
	rds := h.GetRds()
	if rds == nil {
		return nil, fmt.Errorf("%s: rds is required (inline route_config is not implemented)", path)
	}
	cs := rds.GetConfigSource()
	if cs.GetAds() == nil || cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
		return nil, fmt.Errorf("%s.rds.config_source: must be {ads: {}, resource_api_version: V3}", path)
	}
	out.routeConfigName = rds.GetRouteConfigName()
	return out, p.parseHTTPFilters(h.GetHttpFilters(), out, path+".http_filters")
}

// parseHTTPFilters enforces what Envoy checks at load time and PGV does
// not: unique names, typed configs, and the router as the one terminal
// filter in last position.
func (p *Proxy) parseHTTPFilters(filters []*hcmv3.HttpFilter, out *hcmConfig, path string) error {
	if len(filters) == 0 {
		return fmt.Errorf("%s: empty; the router filter is required", path)
	}
	for i, f := range filters {
		fpath := fmt.Sprintf("%s[%d] (%s)", path, i, f.GetName())
		if _, dup := out.filterNames[f.GetName()]; dup {
			return fmt.Errorf("%s: duplicate filter name", fpath)
		}
		if f.GetTypedConfig() == nil {
			return fmt.Errorf("%s: typed_config is required", fpath)
		}
		inner, err := unpackAny(f.GetTypedConfig(), fpath)
		if err != nil {
			return err
		}
		last := i == len(filters)-1
		switch c := inner.(type) {
		case *routerv3.Router:
			if !last {
				return fmt.Errorf("%s: the router is a terminal filter and must be last", fpath)
			}
			out.filterNames[f.GetName()] = filterRouter
			continue
		case *extauthzv3.ExtAuthz:
			cfg, err := p.parseExtAuthz(f.GetName(), c, fpath)
			if err != nil {
				return err
			}
			out.filters = append(out.filters, cfg)
			out.filterNames[f.GetName()] = filterExtAuthz
			out.grpcClusters = append(out.grpcClusters, cfg.cluster)
		case *extprocv3.ExternalProcessor:
			cfg, err := p.parseExtProc(f.GetName(), c, fpath)
			if err != nil {
				return err
			}
			out.filters = append(out.filters, cfg)
			out.filterNames[f.GetName()] = filterExtProc
			out.grpcClusters = append(out.grpcClusters, cfg.cluster)
		default:
			return fmt.Errorf("%s: HTTP filter %s is not implemented", fpath, f.GetTypedConfig().GetTypeUrl())
		}
		if last {
			return fmt.Errorf("%s: the last HTTP filter must be the router", fpath)
		}
	}
	return nil
}

func (p *Proxy) parseExtAuthz(name string, a *extauthzv3.ExtAuthz, path string) (*extAuthzConfig, error) {
	if a.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		return nil, fmt.Errorf("%s.transport_api_version: %s is rejected by Envoy (V3 required)", path, a.GetTransportApiVersion())
	}
	gs := a.GetGrpcService()
	if gs.GetEnvoyGrpc() == nil {
		return nil, fmt.Errorf("%s.grpc_service: envoy_grpc is required", path)
	}
	out := &extAuthzConfig{
		p:                 p,
		name:              name,
		cluster:           gs.GetEnvoyGrpc().GetClusterName(),
		timeout:           durationOr(gs.GetTimeout(), 200*time.Millisecond),
		failureModeAllow:  a.GetFailureModeAllow(),
		statusOnError:     403,
		withBody:          bufferSettingsOf(a.GetWithRequestBody()),
		encodeRawHeaders:  a.GetEncodeRawHeaders(),
		validateMutations: a.GetValidateMutations(),
	}
	// Envoy 1.38 made a zero timeout mean "none"; before it timed out at once.
	out.noTimeout = gs.GetTimeout() != nil && out.timeout == 0 && p.atLeast(38)
	if s := a.GetStatusOnError(); s != nil {
		out.statusOnError = int(s.GetCode())
	}
	return out, nil
}

func (p *Proxy) parseExtProc(name string, e *extprocv3.ExternalProcessor, path string) (*extProcConfig, error) {
	gs := e.GetGrpcService()
	if gs.GetEnvoyGrpc() == nil {
		return nil, fmt.Errorf("%s.grpc_service: envoy_grpc is required", path)
	}
	if gs.GetTimeout() != nil {
		return nil, fmt.Errorf("%s.grpc_service.timeout: not implemented for ext_proc (use message_timeout)", path)
	}
	out := &extProcConfig{
		p:                 p,
		name:              name,
		cluster:           gs.GetEnvoyGrpc().GetClusterName(),
		failureModeAllow:  e.GetFailureModeAllow(),
		statusOnError:     500,
		messageTimeout:    durationOr(e.GetMessageTimeout(), 200*time.Millisecond),
		maxMessageTimeout: durationOr(e.GetMaxMessageTimeout(), 0),
		allowModeOverride: e.GetAllowModeOverride(),
		forwardNS:         e.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(),
		receiveNS:         e.GetMetadataOptions().GetReceivingNamespaces().GetUntyped(),
	}
	if s := e.GetStatusOnError(); s != nil {
		out.statusOnError = int(s.GetCode())
	}
	mode, err := processingModeOf(e.GetProcessingMode(), path+".processing_mode")
	if err != nil {
		return nil, err
	}
	out.mode = mode
	return out, nil
}

// processingModeOf applies the filter-config defaults (headers SEND, bodies
// NONE, trailers SKIP) and refuses the modes the stand-in does not implement.
func processingModeOf(pm *extprocv3.ProcessingMode, path string) (processingMode, error) {
	out := processingMode{
		reqHeaders:  pm.GetRequestHeaderMode() != extprocv3.ProcessingMode_SKIP,
		respHeaders: pm.GetResponseHeaderMode() != extprocv3.ProcessingMode_SKIP,
		reqBody:     pm.GetRequestBodyMode(),
		respBody:    pm.GetResponseBodyMode(),
	}
	for _, tm := range []extprocv3.ProcessingMode_HeaderSendMode{pm.GetRequestTrailerMode(), pm.GetResponseTrailerMode()} {
		if tm == extprocv3.ProcessingMode_SEND {
			return out, fmt.Errorf("%s: trailer mode SEND is not implemented", path)
		}
	}
	for _, bm := range []extprocv3.ProcessingMode_BodySendMode{out.reqBody, out.respBody} {
		if !implementedBodyMode(bm) {
			return out, fmt.Errorf("%s: body mode %s is not implemented", path, bm)
		}
	}
	return out, nil
}

func implementedBodyMode(m extprocv3.ProcessingMode_BodySendMode) bool {
	switch m {
	case extprocv3.ProcessingMode_NONE, extprocv3.ProcessingMode_STREAMED, extprocv3.ProcessingMode_BUFFERED:
		return true
	}
	return false
}
