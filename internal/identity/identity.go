// Package identity verifies the bearer token on every tool call and derives
// the Principal — user, agent, tenant, task, delegation chain — that
// decisions, audit and replay record. One go-oidc verifier per trusted
// issuer is built at construction (discovery and JWKS fetched then); the
// per-call path is a cache lookup keyed by the token's SHA-256.
package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/actiongate/actiongate/internal/principal"
)

// maxCacheTTL caps how long one verification is reused, whatever the
// token's exp, so a withdrawn signing key stops being honoured from the
// cache within this bound too.
const maxCacheTTL = time.Hour

// Verifier checks tokens from the configured issuers for the configured
// audiences. It is immutable after New and safe for concurrent use; a
// configuration change builds a new Verifier (and so a fresh cache).
type Verifier struct {
	cfg     Config
	issuers map[string]*issuer
	cache   *tokenCache
}

type issuer struct {
	cfg      IssuerConfig
	keys     *keySet
	verifier *oidc.IDTokenVerifier
}

// New discovers every issuer and fetches its keys, retrying with backoff
// for up to cfg.DiscoveryTimeout (within ctx); it fails naming the issuer
// that could not be reached. Nothing is built per request afterwards.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, issuers: make(map[string]*issuer, len(cfg.Issuers)), cache: newTokenCache(cfg.CacheSize)}
	for _, ic := range cfg.Issuers {
		iss, err := newIssuer(ctx, cfg, ic)
		if err != nil {
			return nil, fmt.Errorf("identity: issuer %q: %w", ic.URL, err)
		}
		v.issuers[ic.URL] = iss
	}
	return v, nil
}

func newIssuer(ctx context.Context, cfg Config, ic IssuerConfig) (*issuer, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.DiscoveryTimeout)
	defer cancel()
	var provider *oidc.Provider
	err := retry(ctx, func() error {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, cfg.HTTPClient), ic.URL)
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return permanent{err} // a configuration error; retrying cannot help
		}
		provider = p
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil || meta.JWKSURI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	algs := make([]jose.SignatureAlgorithm, len(ic.Algorithms))
	for i, a := range ic.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	ks := &keySet{
		issuer: ic.URL, url: meta.JWKSURI, client: cfg.HTTPClient, clock: cfg.Clock, algs: algs,
		refreshEvery: cfg.KeyRefreshInterval, maxAge: cfg.KeyMaxAge, minRefetch: cfg.MinKeyRefetchInterval,
		log: cfg.Logger,
	}
	if err := retry(ctx, func() error { return ks.refresh(ctx) }); err != nil {
		return nil, fmt.Errorf("fetching JWKS %s: %w", meta.JWKSURI, err)
	}
	verifier := oidc.NewVerifier(ic.URL, ks, &oidc.Config{
		// Audience, expiry and nbf are checked by derive, with our leeway,
		// our clock and a set of audiences rather than one client id.
		SkipClientIDCheck:    true,
		SkipExpiryCheck:      true,
		SupportedSigningAlgs: ic.Algorithms,
		Now:                  cfg.Clock,
	})
	return &issuer{cfg: ic, keys: ks, verifier: verifier}, nil
}

// permanent marks an error retry must not retry.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry calls try until it succeeds, fails permanently, or ctx ends,
// backing off from 100ms to 2s between attempts.
func retry(ctx context.Context, try func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil {
			return nil
		}
		if errors.As(err, new(permanent)) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		case <-t.C:
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Verify checks rawToken and returns the principal it carries. Errors wrap
// exactly one of the Err* kinds. A token verified before is answered from
// the cache until its exp (never past cfg.Clock's now).
func (v *Verifier) Verify(ctx context.Context, rawToken string) (principal.Principal, error) {
	if rawToken == "" {
		return principal.Principal{}, fail(ErrMissing, "empty token")
	}
	if len(rawToken) > MaxTokenLen {
		return principal.Principal{}, fail(ErrMalformed, "token too long")
	}
	now := v.cfg.Clock()
	if v.cache == nil {
		return v.verify(ctx, rawToken, now)
	}
	key := tokenKey(rawToken)
	if e, ok := v.cache.get(&key, now.UnixNano()); ok {
		return clonePrincipal(e.p), nil
	}
	gen := v.cache.gen.Load()
	p, err := v.verify(ctx, rawToken, now)
	if err != nil {
		return principal.Principal{}, err
	}
	until := p.ExpiresAt
	if limit := now.Add(maxCacheTTL); until.After(limit) {
		until = limit
	}
	v.cache.put(&key, p, until.UnixNano(), now.UnixNano(), gen)
	return clonePrincipal(p), nil
}

// Invalidate removes every cached verification whose principal match
// selects (revocation of a user, an agent or a tenant) and returns how many
// it removed. A verification racing with it is not cached.
func (v *Verifier) Invalidate(match func(principal.Principal) bool) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.invalidate(match)
}

// verify is the full check: parse, route by issuer, header policy, key,
// signature (go-oidc), then claims.
func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (principal.Principal, error) {
	t, err := parseToken(raw)
	if err != nil {
		return principal.Principal{}, err
	}
	iss, ok := v.issuers[t.iss]
	if !ok {
		return principal.Principal{}, fail(ErrUnknownIssuer, "issuer is not configured")
	}
	if err := iss.checkHeader(t.header); err != nil {
		return principal.Principal{}, err
	}
	if err := iss.keys.ensure(ctx, t.header.Kid); err != nil {
		return principal.Principal{}, err
	}
	if _, err := iss.verifier.Verify(ctx, raw); err != nil {
		return principal.Principal{}, failWith(ErrSignature, "", err)
	}
	return v.derive(t, now)
}

func (iss *issuer) checkHeader(h jwtHeader) error {
	if !slices.Contains(iss.cfg.Algorithms, h.Alg) {
		return fail(ErrSignature, "signing algorithm is not accepted for this issuer")
	}
	typ := strings.TrimPrefix(strings.ToLower(h.Typ), "application/")
	switch {
	case typ == "at+jwt":
		return nil
	case iss.cfg.RequireAccessTokenType:
		return fail(ErrMalformed, "token type must be at+jwt (RFC 9068)")
	case typ == "" || typ == "jwt":
		return nil
	}
	return fail(ErrMalformed, "token type is not an access token")
}

// tokenKey is the cache key: SHA-256 of the whole token. The string's
// bytes are hashed in place (read-only) rather than copied to a []byte,
// which would allocate a token-sized buffer on every call.
func tokenKey(raw string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
}

func clonePrincipal(p principal.Principal) principal.Principal {
	p.Groups = slices.Clone(p.Groups)
	p.Chain = slices.Clone(p.Chain)
	return p
}
