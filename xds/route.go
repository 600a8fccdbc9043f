package xds

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiongate/actiongate/internal/registry"
)

// routeConfig has one route per registered server and nothing else: a
// request for any other path matches no route and Envoy answers 404, so an
// unregistered ("shadow") server is unreachable through the gateway.
func routeConfig(reg *registry.Registry, ups []upstream, o Options) *routev3.RouteConfiguration {
	routes := make([]*routev3.Route, 0, len(ups)+1)
	if o.MetaAddress != "" {
		routes = append(routes, metadataRoute())
	}
	for _, u := range ups {
		routes = append(routes, serverRoute(u, reg.Version.String(), o))
	}
	return &routev3.RouteConfiguration{
		Name: RouteConfigName,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    VirtualHostName,
			Domains: []string{"*"},
			Routes:  routes,
		}},
	}
}

// serverRoute matches the server's endpoint path exactly (a prefix would
// let /mcp/ehr-admin ride on /mcp/ehr's grants) and tells ext_authz which
// server and registry version the route was generated from.
func serverRoute(u upstream, registryVersion string, o Options) *routev3.Route {
	return &routev3.Route{
		Name:  u.cluster,
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: routePathPrefix + u.serverID}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: u.cluster},
			PrefixRewrite:        u.path,
			HostRewriteSpecifier: &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: u.hostPort},
			// 0 disables the 15 s default that would cut SSE and long tool
			// calls; the idle timeout still reaps dead streams.
			Timeout:     durationpb.New(0),
			IdleTimeout: durationpb.New(o.StreamIdleTimeout),
		}},
		TypedPerFilterConfig: map[string]*anypb.Any{
			extAuthzFilter: mustAny(&extauthzv3.ExtAuthzPerRoute{
				Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: &extauthzv3.CheckSettings{
					ContextExtensions: map[string]string{
						ContextServerID:        u.serverID,
						ContextRegistryVersion: registryVersion,
					},
				}},
			}),
		},
	}
}

// metadataRoute sends RFC 9728 metadata requests to our metadata service.
// They must be readable without a token (that is how a client learns where
// to get one), so ext_authz and ext_proc are off for this route only.
func metadataRoute() *routev3.Route {
	return &routev3.Route{
		Name:  MetaCluster,
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: wellKnownPrefix}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: MetaCluster},
		}},
		TypedPerFilterConfig: map[string]*anypb.Any{
			extAuthzFilter: mustAny(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: true}}),
			extProcFilter:  mustAny(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true}}),
		},
	}
}
