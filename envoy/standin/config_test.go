package standin

import (
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The test configuration is what /tmp/xdsspec.md says ActionGate's xDS
// server generates, built independently here, with mutators for the cases
// a test needs to change.

const (
	listenerName  = "actiongate_mcp"
	routeName     = "actiongate_routes"
	authzCluster  = "actiongate_extauthz"
	procCluster   = "actiongate_extproc"
	mcpCluster    = "mcp_ehr"
	authzFilter   = "envoy.filters.http.ext_authz"
	procFilter    = "envoy.filters.http.ext_proc"
	routerFilter  = "envoy.filters.http.router"
	registryVer   = "sha256:0123abcd"
	testNodeID    = "actiongate-gateway"
	receivingNS   = "actiongate"
	mcpRouteName  = "mcp_ehr"
	sseRouteName  = "mcp_ehr_sse"
	publicRoute   = "public"
	slowRouteName = "slow"
)

type testConfig struct {
	authzAddr, procAddr, upstreamAddr string

	hcm      func(*hcmv3.HttpConnectionManager)
	extAuthz func(*extauthzv3.ExtAuthz)
	extProc  func(*extprocv3.ExternalProcessor)
	routes   func(*routev3.RouteConfiguration)
	clusters func([]*clusterv3.Cluster) []*clusterv3.Cluster
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func (c testConfig) resources() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ClusterType:  c.clusterList(),
		resource.ListenerType: {c.listener()},
		resource.RouteType:    {c.routeConfig()},
	}
}

func (c testConfig) extAuthzFilter() *extauthzv3.ExtAuthz {
	authz := &extauthzv3.ExtAuthz{
		TransportApiVersion: corev3.ApiVersion_V3,
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: authzCluster}},
			Timeout:         durationpb.New(time.Second),
		}},
		StatusOnError:     &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		WithRequestBody:   &extauthzv3.BufferSettings{MaxRequestBytes: 1 << 20, PackAsBytes: true},
		EncodeRawHeaders:  true,
		ValidateMutations: true,
	}
	if c.extAuthz != nil {
		c.extAuthz(authz)
	}
	return authz
}

func (c testConfig) extProcFilter() *extprocv3.ExternalProcessor {
	proc := &extprocv3.ExternalProcessor{
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: procCluster}},
		},
		StatusOnError:     &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		MessageTimeout:    durationpb.New(time.Second),
		MaxMessageTimeout: durationpb.New(5 * time.Second),
		AllowModeOverride: true,
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:  extprocv3.ProcessingMode_SEND,
			RequestBodyMode:    extprocv3.ProcessingMode_BUFFERED,
			ResponseHeaderMode: extprocv3.ProcessingMode_SEND,
			ResponseBodyMode:   extprocv3.ProcessingMode_STREAMED,
		},
		MetadataOptions: &extprocv3.MetadataOptions{
			ForwardingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{authzFilter}},
			ReceivingNamespaces:  &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{receivingNS}},
		},
	}
	if c.extProc != nil {
		c.extProc(proc)
	}
	return proc
}

func (c testConfig) listener() *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:                   "actiongate",
		CodecType:                    hcmv3.HttpConnectionManager_AUTO,
		GenerateRequestId:            wrapperspb.Bool(true),
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_REJECT_REQUEST,
		StreamIdleTimeout:            durationpb.New(time.Hour),
		RequestHeadersTimeout:        durationpb.New(10 * time.Second),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: routeName,
			ConfigSource: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: authzFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(c.extAuthzFilter())}},
			{Name: procFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(c.extProcFilter())}},
			{Name: routerFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
	if c.hcm != nil {
		c.hcm(hcm)
	}
	return &listenerv3.Listener{
		Name:                          listenerName,
		Address:                       socketAddr("127.0.0.1", 0),
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(1 << 20),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}}},
	}
}

func socketAddr(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func (c testConfig) routeConfig() *routev3.RouteConfiguration {
	authzPerRoute := mustAny(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{
		CheckSettings: &extauthzv3.CheckSettings{ContextExtensions: map[string]string{"server_id": "ehr", "registry_version": registryVer}},
	}})
	mcpRoute := func(name, path, rewrite string, timeout time.Duration) *routev3.Route {
		return &routev3.Route{
			Name:  name,
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: path}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: mcpCluster},
				PrefixRewrite:        rewrite,
				HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: c.upstreamAddr},
				Timeout:              durationpb.New(timeout),
				IdleTimeout:          durationpb.New(time.Hour),
			}},
			TypedPerFilterConfig: map[string]*anypb.Any{authzFilter: authzPerRoute},
		}
	}
	public := &routev3.Route{
		Name:   publicRoute,
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/.well-known/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: mcpCluster}}},
		TypedPerFilterConfig: map[string]*anypb.Any{
			authzFilter: mustAny(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: true}}),
			procFilter:  mustAny(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true}}),
		},
	}
	rc := &routev3.RouteConfiguration{
		Name: routeName,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "actiongate",
			Domains: []string{"*"},
			Routes: []*routev3.Route{
				mcpRoute(mcpRouteName, "/mcp/ehr", "/mcp", 0),
				mcpRoute(sseRouteName, "/mcp/sse", "/sse", 0),
				mcpRoute(slowRouteName, "/mcp/slow", "/slow", 200*time.Millisecond),
				public,
			},
		}},
	}
	if c.routes != nil {
		c.routes(rc)
	}
	return rc
}

func (c testConfig) clusterList() []types.Resource {
	list := []*clusterv3.Cluster{
		grpcTestCluster(authzCluster, c.authzAddr),
		grpcTestCluster(procCluster, c.procAddr),
		staticCluster(mcpCluster, c.upstreamAddr, 2*time.Second),
	}
	if c.clusters != nil {
		list = c.clusters(list)
	}
	out := make([]types.Resource, len(list))
	for i, cl := range list {
		out[i] = cl
	}
	return out
}

func staticCluster(name, addr string, connectTimeout time.Duration) *clusterv3.Cluster {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddr(host, uint32(port))}},
			}}}},
		},
	}
}

func grpcTestCluster(name, addr string) *clusterv3.Cluster {
	c := staticCluster(name, addr, time.Second)
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
		"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&upstreamhttpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
				ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
						Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
					},
				},
			},
		}),
	}
	return c
}
