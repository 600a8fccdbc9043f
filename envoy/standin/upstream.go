package standin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

func (c *cluster) address() string {
	return net.JoinHostPort(c.host, strconv.FormatUint(uint64(c.port), 10))
}

// upstreamPool keeps one HTTP transport and one gRPC connection per
// cluster configuration, reused across config versions that leave the
// cluster unchanged.
type upstreamPool struct {
	p    *Proxy
	mu   sync.Mutex
	http map[string]*http.Transport
	grpc map[string]*grpc.ClientConn
}

func newUpstreamPool(p *Proxy) *upstreamPool {
	return &upstreamPool{p: p, http: map[string]*http.Transport{}, grpc: map[string]*grpc.ClientConn{}}
}

func (u *upstreamPool) dialer(c *cluster) func(ctx context.Context, addr string) (net.Conn, error) {
	network := "tcp"
	if c.v4Only {
		network = "tcp4"
	}
	d := &net.Dialer{Timeout: c.connectTimeout}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

func (u *upstreamPool) tlsConfig(c *cluster, alpn ...string) *tls.Config {
	name := c.sni
	if name == "" {
		name = c.host
	}
	roots := u.p.opts.UpstreamRootCAs
	if roots == nil {
		roots = loadCAFile(c.caFile)
	}
	return &tls.Config{ServerName: name, RootCAs: roots, NextProtos: alpn, MinVersion: tls.VersionTLS12}
}

// loadCAFile reads the cluster's trusted CA bundle. An unreadable or empty
// bundle yields an empty pool, so every certificate fails verification (as
// Envoy fails the handshake) rather than falling back to anything.
func loadCAFile(path string) *x509.CertPool {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(path); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return pool
}

func (u *upstreamPool) transport(c *cluster) *http.Transport {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := c.poolKey()
	if t, ok := u.http[key]; ok {
		return t
	}
	dial := u.dialer(c)
	t := &http.Transport{
		DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return dial(ctx, addr) },
		TLSClientConfig:     u.tlsConfig(c),
		DisableCompression:  true, // Envoy forwards accept-encoding untouched and never decompresses
		IdleConnTimeout:     time.Hour,
		MaxIdleConnsPerHost: 64,
	}
	var protos http.Protocols
	switch {
	case c.http2 && c.tls:
		protos.SetHTTP2(true)
	case c.http2:
		protos.SetUnencryptedHTTP2(true)
	default:
		protos.SetHTTP1(true)
	}
	t.Protocols = &protos
	u.http[key] = t
	return t
}

// grpcConn returns the connection Envoy's gRPC client would use for a
// filter's envoy_grpc cluster. Envoy speaks gRPC only over HTTP/2; a
// cluster without http2_protocol_options fails every call, as it does in
// Envoy.
func (u *upstreamPool) grpcConn(clusters *clusterSet, name string) (*grpc.ClientConn, error) {
	c := clusters.byName[name]
	if c == nil {
		return nil, fmt.Errorf("cluster %q not found", name)
	}
	if !c.http2 {
		return nil, fmt.Errorf("cluster %q has no http2_protocol_options; gRPC needs HTTP/2", name)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	key := c.poolKey()
	if cc, ok := u.grpc[key]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if c.tls {
		creds = credentials.NewTLS(u.tlsConfig(c, "h2"))
	}
	dial := u.dialer(c)
	cc, err := grpc.NewClient("passthrough:///"+c.address(),
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(dial),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: c.connectTimeout,
		}))
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	u.grpc[key] = cc
	return cc, nil
}

// retain closes pools of clusters that are gone or changed.
func (u *upstreamPool) retain(cs *clusterSet) {
	keep := map[string]bool{}
	for _, c := range cs.byName {
		keep[c.poolKey()] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, t := range u.http {
		if !keep[k] {
			t.CloseIdleConnections()
			delete(u.http, k)
		}
	}
	for k, cc := range u.grpc {
		if !keep[k] {
			cc.Close()
			delete(u.grpc, k)
		}
	}
}

func (u *upstreamPool) closeAll() {
	u.retain(&clusterSet{byName: map[string]*cluster{}})
}
