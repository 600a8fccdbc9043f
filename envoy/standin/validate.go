package standin

import (
	"fmt"
	"net"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	tlsTransportSocket     = "envoy.transport_sockets.tls"
	defaultBufferLimit     = 1 << 20
)

type named interface {
	proto.Message
	GetName() string
}

// decodeResources unpacks and validates every resource of one
// DiscoveryResponse: type, PGV rules, implemented fields, unique names.
func (p *Proxy) decodeResources(resp *discoveryv3.DiscoveryResponse, kind string, newMsg func() named) ([]named, error) {
	out := make([]named, 0, len(resp.GetResources()))
	seen := map[string]bool{}
	for i, a := range resp.GetResources() {
		if a.GetTypeUrl() != resp.GetTypeUrl() {
			return nil, fmt.Errorf("%s resource %d: type %s in a %s response", kind, i, a.GetTypeUrl(), resp.GetTypeUrl())
		}
		m := newMsg()
		if err := a.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("%s resource %d: %w", kind, i, err)
		}
		path := fmt.Sprintf("%s %q", kind, m.GetName())
		if seen[m.GetName()] {
			return nil, fmt.Errorf("%s: duplicate resource name", path)
		}
		seen[m.GetName()] = true
		if v, ok := m.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		if err := p.checkImplemented(m.ProtoReflect(), path); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func durationOr(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.AsDuration()
}

func parseCluster(c *clusterv3.Cluster) (*cluster, error) {
	path := fmt.Sprintf("cluster %q", c.GetName())
	out := &cluster{name: c.GetName(), connectTimeout: durationOr(c.GetConnectTimeout(), 5*time.Second)}
	switch c.GetType() {
	case clusterv3.Cluster_STATIC:
		out.kind = clusterStatic
	case clusterv3.Cluster_STRICT_DNS:
		out.kind = clusterStrictDNS
	default:
		return nil, fmt.Errorf("%s: type %s is not implemented (STATIC, STRICT_DNS)", path, c.GetType())
	}
	switch c.GetDnsLookupFamily() {
	case clusterv3.Cluster_AUTO:
	case clusterv3.Cluster_V4_ONLY:
		out.v4Only = true
	default:
		return nil, fmt.Errorf("%s: dns_lookup_family %s is not implemented", path, c.GetDnsLookupFamily())
	}
	if err := parseEndpoint(c, out, path); err != nil {
		return nil, err
	}
	for key, a := range c.GetTypedExtensionProtocolOptions() {
		if key != httpProtocolOptionsKey {
			return nil, fmt.Errorf("%s.typed_extension_protocol_options[%s]: key not implemented", path, key)
		}
		inner, err := unpackAny(a, path+".typed_extension_protocol_options")
		if err != nil {
			return nil, err
		}
		opts, ok := inner.(*upstreamhttpv3.HttpProtocolOptions)
		if !ok {
			return nil, fmt.Errorf("%s.typed_extension_protocol_options[%s]: type %s", path, key, a.GetTypeUrl())
		}
		out.http2 = opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
	}
	if ts := c.GetTransportSocket(); ts != nil {
		if ts.GetName() != tlsTransportSocket {
			return nil, fmt.Errorf("%s.transport_socket: %q is not implemented", path, ts.GetName())
		}
		inner, err := unpackAny(ts.GetTypedConfig(), path+".transport_socket")
		if err != nil {
			return nil, err
		}
		tc, ok := inner.(*tlsv3.UpstreamTlsContext)
		if !ok {
			return nil, fmt.Errorf("%s.transport_socket: type %s is not implemented", path, ts.GetTypedConfig().GetTypeUrl())
		}
		if err := parseUpstreamTLS(tc, out, path+".transport_socket"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseUpstreamTLS accepts only a context that verifies the upstream: a CA
// file and DNS SAN matchers equal to the SNI, which is what Go's
// ServerName verification checks. Envoy without a validation context would
// accept any certificate; the stand-in refuses to model that.
func parseUpstreamTLS(tc *tlsv3.UpstreamTlsContext, out *cluster, path string) error {
	vc := tc.GetCommonTlsContext().GetValidationContext()
	if vc == nil || vc.GetTrustedCa().GetFilename() == "" {
		return fmt.Errorf("%s: an upstream TLS context without validation_context.trusted_ca.filename is not implemented (Envoy would not verify the certificate)", path)
	}
	out.tls, out.sni, out.caFile = true, tc.GetSni(), vc.GetTrustedCa().GetFilename()
	name := out.sni
	if name == "" {
		name = out.host
	}
	for i, m := range vc.GetMatchTypedSubjectAltNames() {
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || m.GetMatcher().GetExact() != name {
			return fmt.Errorf("%s.match_typed_subject_alt_names[%d]: only a DNS exact match of the SNI (%q) is implemented", path, i, name)
		}
	}
	return nil
}

func parseEndpoint(c *clusterv3.Cluster, out *cluster, path string) error {
	la := c.GetLoadAssignment()
	if la == nil {
		return fmt.Errorf("%s: load_assignment is required (no EDS)", path)
	}
	var found int
	for _, loc := range la.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			found++
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil || sa.GetAddress() == "" || sa.GetPortValue() == 0 {
				return fmt.Errorf("%s.load_assignment: endpoint needs socket_address with address and port_value", path)
			}
			out.host, out.port = sa.GetAddress(), sa.GetPortValue()
		}
	}
	if found != 1 {
		return fmt.Errorf("%s.load_assignment: the stand-in implements exactly one endpoint per cluster, got %d", path, found)
	}
	if out.kind == clusterStatic && net.ParseIP(out.host) == nil {
		return fmt.Errorf("%s: STATIC endpoint address %q is not an IP address", path, out.host)
	}
	return nil
}

func (p *Proxy) parseRouteConfig(rc *routev3.RouteConfiguration) (*routeConfig, error) {
	path := fmt.Sprintf("route_configuration %q", rc.GetName())
	out := &routeConfig{name: rc.GetName()}
	domains := map[string]bool{}
	for i, vh := range rc.GetVirtualHosts() {
		vpath := fmt.Sprintf("%s.virtual_hosts[%d]", path, i)
		v := &virtualHost{name: vh.GetName()}
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			if domains[d] {
				return nil, fmt.Errorf("%s: duplicate domain %q", vpath, d)
			}
			if strings.Count(d, "*") > 1 || (strings.Contains(d, "*") && d[0] != '*' && d[len(d)-1] != '*') {
				return nil, fmt.Errorf("%s: invalid wildcard domain %q", vpath, d)
			}
			domains[d] = true
			v.domains = append(v.domains, d)
		}
		pf, err := parsePerFilter(vh.GetTypedPerFilterConfig(), vpath+".typed_per_filter_config")
		if err != nil {
			return nil, err
		}
		v.perFilter = pf
		for j, r := range vh.GetRoutes() {
			rt, err := parseRoute(r, fmt.Sprintf("%s.routes[%d]", vpath, j))
			if err != nil {
				return nil, err
			}
			v.routes = append(v.routes, rt)
		}
		out.vhosts = append(out.vhosts, v)
	}
	return out, nil
}

func parseRoute(r *routev3.Route, path string) (*route, error) {
	out := &route{name: r.GetName()}
	switch m := r.GetMatch().GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Path:
		out.exactPath, out.isExact = m.Path, true
	case *routev3.RouteMatch_Prefix:
		out.prefix = m.Prefix
	default:
		return nil, fmt.Errorf("%s.match: only path and prefix are implemented", path)
	}
	ra := r.GetRoute()
	if ra == nil || ra.GetCluster() == "" {
		return nil, fmt.Errorf("%s.route: a cluster is required", path)
	}
	out.cluster = ra.GetCluster()
	if pr := ra.GetPrefixRewrite(); pr != "" {
		out.prefixRewrite = &pr
	}
	out.hostRewrite = ra.GetHostRewriteLiteral()
	out.timeout = durationOr(ra.GetTimeout(), 15*time.Second)
	if it := ra.GetIdleTimeout(); it != nil {
		d := it.AsDuration()
		out.idleTimeout = &d
	}
	pf, err := parsePerFilter(r.GetTypedPerFilterConfig(), path+".typed_per_filter_config")
	if err != nil {
		return nil, err
	}
	out.perFilter = pf
	return out, nil
}

func parsePerFilter(cfgs map[string]*anypb.Any, path string) (map[string]any, error) {
	out := map[string]any{}
	for key, a := range cfgs {
		kp := fmt.Sprintf("%s[%s]", path, key)
		inner, err := unpackAny(a, kp)
		if err != nil {
			return nil, err
		}
		switch c := inner.(type) {
		case *extauthzv3.ExtAuthzPerRoute:
			pr := &extAuthzPerRoute{disabled: c.GetDisabled()}
			if cs := c.GetCheckSettings(); cs != nil {
				pr.contextExt = cs.GetContextExtensions()
				pr.disableBuffering = cs.GetDisableRequestBodyBuffering()
				pr.withBody = bufferSettingsOf(cs.GetWithRequestBody())
			}
			out[key] = pr
		case *extprocv3.ExtProcPerRoute:
			out[key] = &extProcPerRoute{disabled: c.GetDisabled()}
		default:
			return nil, fmt.Errorf("%s: per-filter config type %s is not implemented", kp, a.GetTypeUrl())
		}
	}
	return out, nil
}

func bufferSettingsOf(b *extauthzv3.BufferSettings) *bufferSettings {
	if b == nil {
		return nil
	}
	return &bufferSettings{maxBytes: int(b.GetMaxRequestBytes()), allowPartial: b.GetAllowPartialMessage(), packAsBytes: b.GetPackAsBytes()}
}
