package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// URL is the issuer identifier exactly as the IdP publishes it (and
	// puts in iss); discovery is fetched from URL/.well-known/openid-configuration.
	URL string
	// Algorithms the issuer may sign with. Default: every asymmetric JWS
	// algorithm (RS*, PS*, ES*, EdDSA). Symmetric algorithms and "none" are
	// refused at construction.
	Algorithms []string
	// RequireAccessTokenType enforces RFC 9068 §4: the JOSE typ must be
	// at+jwt. Off by default because many IdPs (zitadel's OP, hence our dev
	// IdP, Entra ID, Dex) sign access tokens with typ JWT; with it off, typ
	// may be absent, JWT or at+jwt, and any other typ (an ID token marked
	// as such, a logout or DPoP JWT) is still refused. The audience rule is
	// what keeps an ID token out: its aud is a client, not this gateway.
	RequireAccessTokenType bool
}

// Config is the verifier's configuration. Zero values take the defaults
// noted on each field.
type Config struct {
	Issuers []IssuerConfig
	// Audiences this gateway answers to; a token's aud must contain one of
	// them (MCP authorization: no token passthrough).
	Audiences []string
	// Claim names for tenant, task and groups. Defaults: tenant, task, groups.
	TenantClaim string
	TaskClaim   string
	GroupsClaim string
	// CacheSize bounds the verified-token cache (default 10000 entries); a
	// negative value disables the cache.
	CacheSize int
	// Clock is the time used for exp/nbf/iat, cache expiry and key age
	// (default time.Now).
	Clock func() time.Time
	// Leeway is the allowed clock skew for exp, nbf and iat (default 30s).
	Leeway time.Duration
	// HTTPClient fetches discovery and JWKS (default: 10s timeout).
	HTTPClient *http.Client
	// DiscoveryTimeout bounds New's retries per issuer (default 30s).
	DiscoveryTimeout time.Duration
	// KeyRefreshInterval: keys older than this are refetched in the
	// background on the next cache miss (default 10m).
	KeyRefreshInterval time.Duration
	// KeyMaxAge: keys not refreshed for this long are no longer trusted
	// and verification fails closed until a refetch succeeds (default 1h).
	KeyMaxAge time.Duration
	// MinKeyRefetchInterval rate-limits refetches caused by an unknown
	// key id (default 10s).
	MinKeyRefetchInterval time.Duration
	// Logger for key refresh events (default slog.Default()). Tokens are
	// never logged.
	Logger *slog.Logger
}

var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Issuers) == 0 {
		return c, errors.New("identity: no issuers configured")
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		return c, errors.New("identity: audiences must be configured and non-empty (tokens for other resources are refused)")
	}
	issuers := make([]IssuerConfig, len(c.Issuers))
	seen := map[string]bool{}
	for i, ic := range c.Issuers {
		if err := ic.validate(); err != nil {
			return c, err
		}
		if seen[ic.URL] {
			return c, fmt.Errorf("identity: issuer %q configured twice", ic.URL)
		}
		seen[ic.URL] = true
		if len(ic.Algorithms) == 0 {
			ic.Algorithms = asymmetricAlgs
		}
		issuers[i] = ic
	}
	c.Issuers = issuers
	setDefault(&c.TenantClaim, "tenant")
	setDefault(&c.TaskClaim, "task")
	setDefault(&c.GroupsClaim, "groups")
	if c.CacheSize == 0 {
		c.CacheSize = 10000
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	setDefault(&c.Leeway, 30*time.Second)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	setDefault(&c.DiscoveryTimeout, 30*time.Second)
	setDefault(&c.KeyRefreshInterval, 10*time.Minute)
	setDefault(&c.KeyMaxAge, time.Hour)
	setDefault(&c.MinKeyRefetchInterval, 10*time.Second)
	if c.KeyMaxAge < c.KeyRefreshInterval {
		return c, errors.New("identity: KeyMaxAge must not be shorter than KeyRefreshInterval")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func (ic IssuerConfig) validate() error {
	u, err := url.Parse(ic.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("identity: issuer %q is not an http(s) URL without query or fragment", ic.URL)
	}
	for _, a := range ic.Algorithms {
		if !slices.Contains(asymmetricAlgs, a) {
			return fmt.Errorf("identity: issuer %q: algorithm %q is not an accepted asymmetric JWS algorithm", ic.URL, a)
		}
	}
	return nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
