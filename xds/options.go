// Package xds turns a registry version into the Envoy configuration that
// routes agents to registered MCP servers through ActionGate's ext_authz and
// ext_proc services, and serves it over ADS.
//
// Building is pure (registry + Options → resources, one file per resource
// type); everything is validated, including inside Any, before a snapshot is
// set, and every snapshot version is a content hash of what it carries.
package xds

import (
	"fmt"
	"net"
	"time"
)

// Names of generated resources. Operators see these in Envoy's admin
// endpoints and stats; they are part of the interface.
const (
	ListenerName    = "actiongate_mcp"
	RouteConfigName = "actiongate_routes"
	VirtualHostName = "actiongate"
	ExtAuthzCluster = "actiongate_extauthz"
	ExtProcCluster  = "actiongate_extproc"
	MetaCluster     = "actiongate_meta"
	// wellKnownPrefix is RFC 9728's path for protected-resource metadata.
	wellKnownPrefix  = "/.well-known/oauth-protected-resource/"
	upstreamPrefix   = "mcp_"
	routePathPrefix  = "/mcp/"
	statPrefix       = "actiongate"
	receivingMetaNS  = "actiongate"
	extAuthzFilter   = "envoy.filters.http.ext_authz"
	extProcFilter    = "envoy.filters.http.ext_proc"
	routerFilter     = "envoy.filters.http.router"
	hcmFilter        = "envoy.filters.network.http_connection_manager"
	httpProtoOptsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	tlsSocketName    = "envoy.transport_sockets.tls"
)

// Context extension keys ext_authz receives on every MCP route.
const (
	ContextServerID        = "server_id"
	ContextRegistryVersion = "registry_version"
)

// DefaultNodeID is the node id the generated bootstrap uses.
const DefaultNodeID = "actiongate-gateway"

// Options are the deployment facts the registry does not know: where the
// data plane listens and where our side services run.
type Options struct {
	NodeID string

	// ListenAddress and ListenPort of the data plane's MCP listener.
	ListenAddress string
	ListenPort    uint32

	// ExtAuthzAddress and ExtProcAddress are host:port of our gRPC services
	// as the data plane reaches them (IP literals: STATIC clusters).
	ExtAuthzAddress string
	ExtProcAddress  string
	// MetaAddress is host:port of our HTTP service for RFC 9728
	// protected-resource metadata; empty publishes no metadata route.
	MetaAddress string

	// MaxRequestBytes bounds request bodies buffered for ext_authz and the
	// connection buffer; larger requests get Envoy's 413.
	MaxRequestBytes uint32
	// ExtAuthzTimeout bounds one Check, ExtProcMessageTimeout one ext_proc
	// message. Both fail closed (status 503) when exceeded.
	ExtAuthzTimeout       time.Duration
	ExtProcMessageTimeout time.Duration
	// StreamIdleTimeout closes streams with no activity; long enough for
	// quiet SSE streams.
	StreamIdleTimeout time.Duration
	// UpstreamCAFile is the CA bundle (on the Envoy host) that https
	// upstreams' certificates are verified against.
	UpstreamCAFile string
}

// DefaultUpstreamCAFile is Debian's and Envoy's images' system bundle.
const DefaultUpstreamCAFile = "/etc/ssl/certs/ca-certificates.crt"

// withDefaults fills zero fields; it never overrides a set one.
func (o Options) withDefaults() Options {
	if o.NodeID == "" {
		o.NodeID = DefaultNodeID
	}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1"
	}
	if o.ListenPort == 0 {
		o.ListenPort = 10000
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = 1 << 20
	}
	if o.ExtAuthzTimeout == 0 {
		o.ExtAuthzTimeout = time.Second
	}
	if o.ExtProcMessageTimeout == 0 {
		o.ExtProcMessageTimeout = time.Second
	}
	if o.UpstreamCAFile == "" {
		o.UpstreamCAFile = DefaultUpstreamCAFile
	}
	if o.StreamIdleTimeout == 0 {
		o.StreamIdleTimeout = time.Hour
	}
	return o
}

func (o Options) validate() error {
	for name, addr := range map[string]string{"ext_authz": o.ExtAuthzAddress, "ext_proc": o.ExtProcAddress} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("xds: %s address %q: %w", name, addr, err)
		}
		if net.ParseIP(host) == nil || port == "" || port == "0" {
			return fmt.Errorf("xds: %s address %q must be an IP literal and a non-zero port", name, addr)
		}
	}
	if o.MetaAddress != "" {
		if host, port, err := net.SplitHostPort(o.MetaAddress); err != nil || net.ParseIP(host) == nil || port == "0" {
			return fmt.Errorf("xds: metadata address %q must be an IP literal and a non-zero port", o.MetaAddress)
		}
	}
	if net.ParseIP(o.ListenAddress) == nil {
		return fmt.Errorf("xds: listen address %q must be an IP literal", o.ListenAddress)
	}
	return nil
}
