package mint

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenLen bounds a token before any parsing; minted tokens are under
// 1 KiB, and a header line of 8 KiB is what most servers allow anyway.
const MaxTokenLen = 8 << 10

// DefaultLeeway is the clock skew a Verifier tolerates on exp, nbf, iat.
const DefaultLeeway = 30 * time.Second

// KeySource finds the public key a token names. *KeyRing is one (local,
// for introspection); a Verifier built with a JWKSURL uses a cached HTTP
// one. Errors wrap ErrBadSignature (no such key) or ErrUnavailable.
type KeySource interface {
	Key(ctx context.Context, kid string) (jose.JSONWebKey, error)
}

// VerifierConfig configures NewVerifier: what an upstream MCP server
// needs to check tokens the gateway injects.
type VerifierConfig struct {
	// Issuer expected in iss: the gateway's issuer identifier. Required.
	Issuer string
	// Audience is this resource's identifier; aud must contain it.
	// Required.
	Audience string
	// JWKSURL is the gateway's JWKS (Issuer + JWKSPath). Exactly one of
	// JWKSURL and Keys.
	JWKSURL string
	Keys    KeySource
	// HTTPClient for JWKS fetches (default: 10s timeout).
	HTTPClient *http.Client
	// MinRefetchInterval: an unknown kid refetches the JWKS at most this
	// often (default 10s). Keep it below the gateway's propagation delay.
	MinRefetchInterval time.Duration
	// RefreshInterval: keys older than this are refetched in the
	// background (default 5m), so withdrawn keys go away.
	RefreshInterval time.Duration
	// MaxKeyAge: keys not refreshed for this long are no longer trusted
	// and verification fails closed with ErrUnavailable (default 1h).
	MaxKeyAge time.Duration
	// Leeway on exp, nbf and iat (default DefaultLeeway).
	Leeway time.Duration
	Clock  func() time.Time
	Logger *slog.Logger
}

// Verifier checks minted tokens offline. Immutable after NewVerifier and
// safe for concurrent use; build one per process, not per request.
type Verifier struct {
	issuer   string
	audience string // "" only for introspection, which reports aud instead
	keys     KeySource
	leeway   time.Duration // past exp
	skew     time.Duration // before nbf / iat
	clock    func() time.Time
}

// NewVerifier validates cfg. Nothing is fetched until the first Verify,
// so an upstream can start before the gateway.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("mint: VerifierConfig needs Issuer and Audience")
	}
	if (cfg.JWKSURL == "") == (cfg.Keys == nil) {
		return nil, errors.New("mint: VerifierConfig needs exactly one of JWKSURL and Keys")
	}
	if cfg.Leeway < 0 || cfg.MinRefetchInterval < 0 || cfg.RefreshInterval < 0 || cfg.MaxKeyAge < 0 {
		return nil, errors.New("mint: VerifierConfig durations must not be negative")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	keys := cfg.Keys
	if keys == nil {
		rk, err := newRemoteKeys(cfg)
		if err != nil {
			return nil, err
		}
		keys = rk
	}
	return &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, keys: keys, leeway: cfg.Leeway, skew: cfg.Leeway, clock: cfg.Clock}, nil
}

// Verify checks raw — compact JWS, typ at+jwt, ES256 signature by a
// published key, iss, aud, exp/nbf/iat with leeway — and, when
// requiredScope is not empty, that scope contains it. Pass "" only for a
// request that is not a tool call. Errors wrap exactly one Err* kind.
func (v *Verifier) Verify(ctx context.Context, raw, requiredScope string) (Claims, error) {
	c, err := v.verify(ctx, raw, v.clock())
	if err != nil {
		return Claims{}, err
	}
	if requiredScope != "" && !c.HasScope(requiredScope) {
		return Claims{}, fail(ErrScope, "")
	}
	return c, nil
}

// jwtHeader is the part of the JOSE header checked before the signature.
type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (Claims, error) {
	hdr, err := parseHeader(raw)
	if err != nil {
		return Claims{}, err
	}
	key, err := v.keys.Key(ctx, hdr.Kid)
	if err != nil {
		return Claims{}, err
	}
	if key.Algorithm != "" && key.Algorithm != string(jose.ES256) {
		return Claims{}, fail(ErrBadSignature, "key is not an ES256 key")
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return Claims{}, failWith(ErrMalformed, "", err)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return Claims{}, failWith(ErrBadSignature, "", err)
	}
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return Claims{}, failWith(ErrMalformed, "claims", err)
	}
	c, err := w.claims()
	if err != nil {
		return Claims{}, err
	}
	return c, v.checkClaims(&c, now)
}

// parseHeader rejects what must not reach key lookup: a token too long or
// not a compact JWS, a crit header (RFC 9068 tokens may not use RFC 7797),
// a typ other than at+jwt, an alg other than ES256, or no kid.
func parseHeader(raw string) (jwtHeader, error) {
	var h jwtHeader
	if raw == "" || len(raw) > MaxTokenLen {
		return h, fail(ErrMalformed, "empty or too long")
	}
	seg, rest, ok := strings.Cut(raw, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return h, fail(ErrMalformed, "not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, failWith(ErrMalformed, "header encoding", err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, failWith(ErrMalformed, "header", err)
	}
	switch {
	case len(h.Crit) > 0:
		return h, fail(ErrMalformed, "critical header extensions are not accepted")
	case !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt"):
		return h, fail(ErrTokenType, "")
	case h.Alg != string(jose.ES256):
		return h, fail(ErrBadSignature, "algorithm is not ES256")
	case h.Kid == "":
		return h, fail(ErrBadSignature, "no kid")
	}
	return h, nil
}

// checkClaims is the pure part after the signature.
func (v *Verifier) checkClaims(c *Claims, now time.Time) error {
	switch {
	case c.Issuer != v.issuer:
		return fail(ErrWrongIssuer, "")
	case v.audience != "" && !slices.Contains(c.Audience, v.audience):
		return fail(ErrWrongAudience, "")
	case !now.Before(c.ExpiresAt.Add(v.leeway)):
		return fail(ErrExpired, "past exp")
	case !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.skew)):
		return fail(ErrExpired, "before nbf")
	case c.IssuedAt.After(now.Add(v.skew)):
		return fail(ErrExpired, "iat in the future")
	}
	return nil
}
