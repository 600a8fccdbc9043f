package authzmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiongate/actiongate/internal/registry"
)

// Options configure Dial.
type Options struct {
	// Endpoint is SpiceDB's gRPC address, host:port.
	Endpoint string
	// PresharedKey is SpiceDB's bearer token. It is sent on every call and
	// never logged or put in an error.
	PresharedKey string
	// Insecure uses plaintext gRPC. Dial refuses it unless Endpoint is a
	// loopback address: the key would otherwise cross the network in clear.
	Insecure bool
	// CAFile is a PEM bundle to verify SpiceDB's certificate with instead of
	// the system roots. Ignored when Insecure.
	CAFile string
	// CheckTimeout bounds a check whose context has no deadline; 2 s if zero.
	CheckTimeout time.Duration
	// CheckCacheTTL is how long a definite answer is reused
	// (DefaultCheckCacheTTL if zero; negative disables the cache).
	CheckCacheTTL time.Duration
	// Logger receives schema writes and syncs; slog.Default() if nil.
	Logger *slog.Logger
}

// Client is one gRPC connection to SpiceDB, shared by every check. It is
// safe for concurrent use.
type Client struct {
	api     *authzed.Client
	log     *slog.Logger
	timeout time.Duration
	// consistency is what checks ask for: MinimizeLatency until this client
	// writes (or is told of a write), then AtLeastAsFresh(latest token). It
	// is built once per write so a check allocates none of it.
	consistency atomic.Pointer[v1.Consistency]
	// groups are the groups the registry names (UseRegistry); nil until
	// known, and then every claimed group is sent.
	groups atomic.Pointer[map[string]struct{}]
	cache  *checkCache
}

var (
	minimizeLatency = &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
	fullyConsistent = &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
)

// Dial connects to SpiceDB and makes one authenticated call, so a wrong
// endpoint or key fails here rather than on the first decision.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Endpoint == "" {
		return nil, errors.New("spicedb endpoint is empty")
	}
	if opts.PresharedKey == "" {
		return nil, errors.New("spicedb preshared key is empty")
	}
	dialOpts, err := transport(opts)
	if err != nil {
		return nil, err
	}
	api, err := authzed.NewClient(opts.Endpoint, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("spicedb client for %s: %w", opts.Endpoint, err)
	}
	ttl := opts.CheckCacheTTL
	if ttl == 0 {
		ttl = DefaultCheckCacheTTL
	}
	c := &Client{api: api, log: opts.Logger, timeout: opts.CheckTimeout, cache: newCheckCache(ttl)}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.timeout <= 0 {
		c.timeout = 2 * time.Second
	}
	c.consistency.Store(minimizeLatency)
	if err := c.Ping(ctx); err != nil {
		_ = api.Close()
		return nil, err
	}
	return c, nil
}

func transport(opts Options) ([]grpc.DialOption, error) {
	if opts.Insecure {
		if !loopback(opts.Endpoint) {
			return nil, fmt.Errorf("spicedb endpoint %s: plaintext is allowed only to a loopback address", opts.Endpoint)
		}
		return []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpcutil.WithInsecureBearerToken(opts.PresharedKey),
		}, nil
	}
	var (
		certs grpc.DialOption
		err   error
	)
	if opts.CAFile != "" {
		certs, err = grpcutil.WithCustomCerts(grpcutil.VerifyCA, opts.CAFile)
	} else {
		certs, err = grpcutil.WithSystemCerts(grpcutil.VerifyCA)
	}
	if err != nil {
		return nil, fmt.Errorf("spicedb TLS roots: %w", err)
	}
	return []grpc.DialOption{certs, grpcutil.WithBearerToken(opts.PresharedKey)}, nil
}

// loopback reports whether endpoint's host is localhost or a loopback IP.
// Names other than localhost are not resolved: DNS could answer anything.
func loopback(endpoint string) bool {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close closes the connection.
func (c *Client) Close() error { return c.api.Close() }

// Ping makes one authenticated call. A server without a schema yet is
// healthy.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.api.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		return nil
	case codes.Unauthenticated, codes.PermissionDenied:
		return fmt.Errorf("spicedb rejected the preshared key: %w", err)
	}
	return fmt.Errorf("spicedb ping: %w", err)
}

// ObserveZedToken raises the consistency of later checks to at least the
// revision of token: a write made elsewhere (a revocation on another
// replica, `actiongate authz sync`) that this replica has been told about.
// Tokens are opaque and cannot be ordered, so the last one observed wins.
func (c *Client) ObserveZedToken(token string) {
	if token != "" {
		c.observe(&v1.ZedToken{Token: token})
	}
}

func (c *Client) observe(tok *v1.ZedToken) {
	if tok.GetToken() == "" {
		return
	}
	c.consistency.Store(&v1.Consistency{
		Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok},
	})
	// Answers from before the write may be what it changed.
	c.cache.reset()
}

// UseRegistry tells the client which groups the registry names, so a check
// sends only those from the token's groups claim: no other group has a
// relationship, and SpiceDB refuses request context over 4 KiB by default,
// which an IdP sending a hundred group ids exceeds. Call it on every
// registry swap (Sync calls it after writing). A registry older than the
// one in SpiceDB can only leave a group out, which denies.
func (c *Client) UseRegistry(reg *registry.Registry) {
	named := map[string]struct{}{}
	for i := range reg.Agents {
		for _, g := range reg.Agents[i].Groups {
			named[g] = struct{}{}
		}
	}
	c.groups.Store(&named)
}

// ConsistencyFloor returns the token checks are at least as fresh as, or ""
// when checks minimize latency.
func (c *Client) ConsistencyFloor() string {
	return c.consistency.Load().GetAtLeastAsFresh().GetToken()
}
