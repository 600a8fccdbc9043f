package standin

import "time"

// The runtime model: immutable values built from validated xDS resources.
// A request reads one activeListener snapshot at its start and never sees a
// later update half-applied.

// acceptedConfig is the last good state of each xDS type.
type acceptedConfig struct {
	clusters  *clusterSet
	listeners map[string]*listenerConfig
	routes    map[string]*routeConfig
}

func emptyAcceptedConfig() acceptedConfig {
	return acceptedConfig{
		clusters:  &clusterSet{byName: map[string]*cluster{}},
		listeners: map[string]*listenerConfig{},
		routes:    map[string]*routeConfig{},
	}
}

type clusterSet struct {
	byName map[string]*cluster
}

type clusterKind int

const (
	clusterStatic clusterKind = iota
	clusterStrictDNS
)

type cluster struct {
	name           string
	kind           clusterKind
	host           string // IP literal (STATIC) or DNS name (STRICT_DNS)
	port           uint32
	v4Only         bool
	connectTimeout time.Duration
	http2          bool   // explicit_http_config.http2_protocol_options
	tls            bool   // UpstreamTlsContext transport socket
	sni            string // UpstreamTlsContext.sni
	caFile         string // validation_context.trusted_ca.filename
}

// poolKey identifies what an upstream connection pool depends on; two
// config versions with the same key share connections.
func (c *cluster) poolKey() string {
	return c.name + "|" + c.address() + "|" + c.connectTimeout.String() + "|" +
		boolStr(c.http2) + boolStr(c.tls) + boolStr(c.v4Only) + "|" + c.sni + "|" + c.caFile
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

type listenerConfig struct {
	name        string
	address     string // host:port as configured (port may be 0)
	bufferLimit int    // per_connection_buffer_limit_bytes
	hcm         *hcmConfig
}

type escapedSlashesAction int

const (
	slashesKeep escapedSlashesAction = iota
	slashesReject
	slashesUnescapeAndForward
)

type hcmConfig struct {
	codecAuto             bool // AUTO also accepts h2c prior knowledge
	generateRequestID     bool
	normalizePath         bool
	mergeSlashes          bool
	escapedSlashes        escapedSlashesAction
	streamIdleTimeout     time.Duration // 0 = disabled
	requestHeadersTimeout time.Duration // 0 = disabled
	routeConfigName       string
	filters               []httpFilterConfig // in listed order, router excluded
	filterNames           map[string]filterKind
	grpcClusters          []string // clusters named by filters' grpc_service
}

type filterKind int

const (
	filterExtAuthz filterKind = iota + 1
	filterExtProc
	filterRouter
)

// httpFilterConfig is one configured HTTP filter; it makes a fresh
// per-stream instance for every request.
type httpFilterConfig interface {
	filterName() string
	newStreamFilter(s *stream) streamFilter
}

type routeConfig struct {
	name   string
	vhosts []*virtualHost
}

type virtualHost struct {
	name      string
	domains   []string
	routes    []*route
	perFilter map[string]any // *extAuthzPerRoute | *extProcPerRoute, keyed by filter name
}

type route struct {
	name          string
	exactPath     string
	prefix        string
	isExact       bool
	cluster       string
	prefixRewrite *string
	hostRewrite   string
	timeout       time.Duration  // 0 = no timeout
	idleTimeout   *time.Duration // nil = use the HCM stream_idle_timeout
	perFilter     map[string]any
}

type bufferSettings struct {
	maxBytes     int
	allowPartial bool
	packAsBytes  bool
}

type extAuthzPerRoute struct {
	disabled         bool
	contextExt       map[string]string
	disableBuffering bool
	withBody         *bufferSettings
}

type extProcPerRoute struct {
	disabled bool
}

// activeListener is what one request sees: a listener with its route
// configuration and the clusters at the time it was built.
type activeListener struct {
	lc       *listenerConfig
	routes   *routeConfig
	clusters *clusterSet
}
