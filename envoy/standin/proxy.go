package standin

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultEnvoyVersion is the Envoy release whose behaviour the stand-in
// models when Options.EnvoyVersion is empty.
const DefaultEnvoyVersion = "1.38"

// Options configure a stand-in data plane.
type Options struct {
	// XDSAddress is host:port of the ADS server (plaintext gRPC).
	XDSAddress string
	// NodeID and NodeCluster identify this data plane to the xDS server; the
	// node id must equal the key the server's snapshot is set under.
	NodeID, NodeCluster string
	Logger              *slog.Logger

	// EnvoyVersion ("1.NN") selects version-dependent semantics where
	// PROTOCOLS.md says Envoy releases differ, e.g. ext_authz OkHttpResponse
	// header append (legacy `append` before 1.38, `append_action` from 1.38).
	// Default DefaultEnvoyVersion.
	EnvoyVersion string

	// ChunkSplitter re-cuts every body chunk an ext_proc filter sends in
	// STREAMED mode, standing in for the arbitrary chunk boundaries Envoy
	// produces (network reads, codec frames). Nil passes reads through as
	// they arrive. SplitEveryByte and RandomSplitter are ready-made ones.
	ChunkSplitter func([]byte) [][]byte

	// UpstreamRootCAs verifies upstream TLS (clusters with an
	// UpstreamTlsContext); nil means the system roots.
	UpstreamRootCAs *x509.CertPool

	// CrossRefGrace is how long an LDS or RDS update that names a cluster
	// not (yet) in CDS is held before it is NACKed. go-control-plane may
	// deliver a new snapshot's types in any order, so a route can arrive a
	// moment before its cluster. Default 2s.
	CrossRefGrace time.Duration
}

// Proxy is one stand-in data plane instance.
type Proxy struct {
	opts       Options
	log        *slog.Logger
	minor      int // Envoy minor version modelled (1.<minor>)
	versionErr error

	stats *statsCounters

	ready     chan struct{}
	readyOnce sync.Once

	mu        sync.Mutex // guards cfg and live
	cfg       acceptedConfig
	live      map[string]*liveListener
	upstreams *upstreamPool
}

// New returns a stand-in configured by opts. Nothing runs until Run.
func New(opts Options) *Proxy {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EnvoyVersion == "" {
		opts.EnvoyVersion = DefaultEnvoyVersion
	}
	if opts.CrossRefGrace <= 0 {
		opts.CrossRefGrace = 2 * time.Second
	}
	minor, err := parseEnvoyVersion(opts.EnvoyVersion)
	p := &Proxy{
		opts:       opts,
		log:        opts.Logger.With("component", "envoy-standin"),
		minor:      minor,
		versionErr: err,
		stats:      newStatsCounters(),
		ready:      make(chan struct{}),
		live:       map[string]*liveListener{},
	}
	p.upstreams = newUpstreamPool(p)
	p.cfg = emptyAcceptedConfig()
	return p
}

func parseEnvoyVersion(v string) (int, error) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("standin: EnvoyVersion %q: want 1.NN", v)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil || minor < 30 || minor > 40 {
		return 0, fmt.Errorf("standin: EnvoyVersion %q: only 1.30 to 1.40 are modelled", v)
	}
	return minor, nil
}

// atLeast reports whether the modelled Envoy is 1.<minor> or newer.
func (p *Proxy) atLeast(minor int) bool { return p.minor >= minor }

// Run connects to the ADS server (reconnecting with backoff), applies the
// configuration it receives and serves the listeners until ctx is done.
// It returns nil when ctx is cancelled.
func (p *Proxy) Run(ctx context.Context) error {
	if p.versionErr != nil {
		return p.versionErr
	}
	if p.opts.XDSAddress == "" || p.opts.NodeID == "" {
		return fmt.Errorf("standin: XDSAddress and NodeID are required")
	}
	defer p.shutdown()
	backoff := 50 * time.Millisecond
	for {
		started := time.Now()
		err := p.runADS(ctx)
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("ADS stream ended; reconnecting", "err", err, "backoff", backoff)
		if time.Since(started) > 10*time.Second {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Ready is closed once the first listener serves requests.
func (p *Proxy) Ready() <-chan struct{} { return p.ready }

// ListenerAddr returns the address a listener is bound to (the real port
// when the configuration asked for port 0).
func (p *Proxy) ListenerAddr(name string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.live[name]
	if !ok {
		return "", false
	}
	return l.ln.Addr().String(), true
}

func (p *Proxy) markReady() {
	p.readyOnce.Do(func() { close(p.ready) })
}

func (p *Proxy) shutdown() {
	p.mu.Lock()
	live := p.live
	p.live = map[string]*liveListener{}
	p.mu.Unlock()
	for _, l := range live {
		l.stop()
	}
	p.upstreams.closeAll()
}
