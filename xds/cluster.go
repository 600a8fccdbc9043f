package xds

import (
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiongate/actiongate/internal/registry"
)

// upstream is a registered server's endpoint, split the way Envoy needs it.
type upstream struct {
	serverID string
	cluster  string
	host     string
	port     uint32
	hostPort string // Host header the upstream expects
	path     string
	tls      bool
}

func upstreams(reg *registry.Registry) ([]upstream, error) {
	out := make([]upstream, 0, len(reg.Servers))
	for i := range reg.Servers {
		s := &reg.Servers[i]
		// Load validated the URL; a registry built another way may not be.
		ep, err := s.Endpoint()
		if err != nil {
			return nil, fmt.Errorf("xds: server %s: upstream %w", s.ID, err)
		}
		port := strconv.FormatUint(uint64(ep.Port), 10)
		out = append(out, upstream{
			serverID: s.ID,
			cluster:  upstreamPrefix + s.ID,
			host:     ep.Host,
			port:     ep.Port,
			hostPort: net.JoinHostPort(ep.Host, port),
			path:     ep.Path,
			tls:      ep.TLS(),
		})
	}
	return out, nil
}

// upstreamCluster is an MCP server's cluster: HTTP/1.1 (what MCP servers
// speak), STATIC for an IP literal and STRICT_DNS for a name.
func upstreamCluster(u upstream, caFile string) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:           u.cluster,
		ConnectTimeout: durationpb.New(2 * time.Second),
		LoadAssignment: loadAssignment(u.cluster, u.host, u.port),
	}
	if net.ParseIP(u.host) != nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_ONLY
	}
	if u.tls {
		c.TransportSocket = &corev3.TransportSocket{
			Name:       tlsSocketName,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(upstreamTLS(u.host, caFile))},
		}
	}
	return c
}

// upstreamTLS verifies the upstream's certificate against caFile and its
// DNS name. Without a validation context Envoy accepts any certificate.
func upstreamTLS(host, caFile string) *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{
		Sni: host,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caFile}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_DNS,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: host}},
				}},
			}},
		},
	}
}

// grpcCluster is one of our own side services: gRPC needs HTTP/2, set the
// non-deprecated way.
func grpcCluster(name, addr string) *clusterv3.Cluster {
	host, portStr, _ := net.SplitHostPort(addr) // checked by Options.validate
	port, _ := strconv.ParseUint(portStr, 10, 16)
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtoOptsKey: mustAny(&upstreamhttpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
					ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
						ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
							Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
						},
					},
				},
			}),
		},
		LoadAssignment: loadAssignment(name, host, uint32(port)),
	}
}

func loadAssignment(cluster, host string, port uint32) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address:       host,
						PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
					}}},
				}},
			}},
		}},
	}
}

// metaCluster is our metadata HTTP service (HTTP/1.1, like the upstreams).
func metaCluster(addr string) *clusterv3.Cluster {
	host, portStr, _ := net.SplitHostPort(addr) // checked by Options.validate
	port, _ := strconv.ParseUint(portStr, 10, 16)
	return &clusterv3.Cluster{
		Name:                 MetaCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment:       loadAssignment(MetaCluster, host, uint32(port)),
	}
}
