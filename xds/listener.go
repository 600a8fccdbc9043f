package xds

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// listener is the one MCP listener: HCM with RDS and the filter chain
// ext_authz → ext_proc → router. Every field that matters for security or
// streaming is set explicitly, not left to a default that may change.
func listener(o Options) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name: ListenerName,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       o.ListenAddress,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: o.ListenPort},
		}}},
		// Also the limit for buffered ext_proc bodies; equal to the ext_authz
		// body limit so both refuse the same requests.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(o.MaxRequestBytes),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       hcmFilter,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(httpConnectionManager(o))},
			}},
		}},
	}
}

func httpConnectionManager(o Options) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{
		StatPrefix:        statPrefix,
		CodecType:         hcmv3.HttpConnectionManager_AUTO,
		GenerateRequestId: wrapperspb.Bool(true),
		// Policy sees the path the router matches: /mcp/./ehr and //mcp/ehr
		// are the same route, and an encoded slash cannot smuggle a second one.
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_REJECT_REQUEST,
		// Envoy's 300 s default would cut quiet SSE streams.
		StreamIdleTimeout:     durationpb.New(o.StreamIdleTimeout),
		RequestHeadersTimeout: durationpb.New(10 * time.Second),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: RouteConfigName,
			ConfigSource: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: extAuthzFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(extAuthz(o))}},
			{Name: extProcFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(extProc(o))}},
			{Name: routerFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
}

// extAuthz asks our ext_authz service about every request, with the raw
// body, and denies when it cannot ask (503, so an outage is never mistaken
// for a policy denial).
func extAuthz(o Options) *extauthzv3.ExtAuthz {
	return &extauthzv3.ExtAuthz{
		TransportApiVersion: corev3.ApiVersion_V3,
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ExtAuthzCluster}},
			Timeout:         durationpb.New(o.ExtAuthzTimeout),
		}},
		FailureModeAllow: false,
		StatusOnError:    &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		// pack_as_bytes: the decision and its hash see the exact bytes the
		// upstream will; a partial body could hide a second tool call.
		WithRequestBody: &extauthzv3.BufferSettings{
			MaxRequestBytes:     o.MaxRequestBytes,
			AllowPartialMessage: false,
			PackAsBytes:         true,
		},
		EncodeRawHeaders:  true,
		ValidateMutations: true,
	}
}

// extProc sees request headers and the buffered request body (credential
// swap) and the response headers and streamed response body (filtering,
// redaction); our server switches JSON responses to BUFFERED per response.
func extProc(o Options) *extprocv3.ExternalProcessor {
	return &extprocv3.ExternalProcessor{
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ExtProcCluster}},
		},
		FailureModeAllow:  false,
		StatusOnError:     &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		MessageTimeout:    durationpb.New(o.ExtProcMessageTimeout),
		MaxMessageTimeout: durationpb.New(5 * time.Second),
		AllowModeOverride: true,
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:  extprocv3.ProcessingMode_SEND,
			RequestBodyMode:    extprocv3.ProcessingMode_BUFFERED,
			ResponseHeaderMode: extprocv3.ProcessingMode_SEND,
			ResponseBodyMode:   extprocv3.ProcessingMode_STREAMED,
		},
		MetadataOptions: &extprocv3.MetadataOptions{
			ForwardingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{extAuthzFilter}},
			ReceivingNamespaces:  &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{receivingMetaNS}},
		},
	}
}
