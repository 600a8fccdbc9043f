package signals

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Transmitter is one SSF transmitter (an IdP's event stream) this receiver
// accepts SETs from.
type Transmitter struct {
	// Name identifies the transmitter in audit records and metrics
	// (default: Issuer).
	Name string
	// Issuer is the SETs' iss, exactly as the transmitter publishes it in
	// its /.well-known/ssf-configuration.
	Issuer string
	// JWKSURL is the transmitter's jwks_uri. https is required except on
	// a loopback host (tests, a local sidecar).
	JWKSURL string
	// Audience must appear in every SET's aud: the value configured for
	// this receiver's stream at the transmitter.
	Audience string
	// BearerToken, when set, must be presented in Authorization (the
	// authorization_header of the stream's push delivery); compared in
	// constant time.
	BearerToken string
	// Algorithms the transmitter signs with. Default: every asymmetric JWS
	// algorithm (RS*, PS*, ES*, EdDSA). HS* and none are refused.
	Algorithms []string
	// Legacy accepts SETs without a JOSE typ and the RISC draft subject
	// spelling {"subject_type":"iss-sub"} (transmitters predating RFC
	// 8417 §2.3 explicit typing). Off by default.
	Legacy bool
	// SubjectIssuers are the issuers an iss_sub subject may name
	// (default: Issuer). A gateway user is (issuer, subject) of the tokens
	// the user's agents present, which for many IdPs is an authorization
	// server URL, not the SSF issuer: list it here.
	SubjectIssuers []string
	// OpaqueIssuer pairs opaque subject ids with an issuer: set it when
	// the transmitter's opaque ids are the sub of that issuer's tokens.
	// Empty refuses opaque subjects.
	OpaqueIssuer string
}

// SSFConfig configures an SSFReceiver. Zero values take the defaults noted.
type SSFConfig struct {
	Transmitter Transmitter
	// Revoker and Auditor are required.
	Revoker Revoker
	Auditor Auditor
	// Users resolves email subjects; nil refuses them.
	Users UserLookup
	// HTTPClient fetches the JWKS (default: 10s timeout).
	HTTPClient *http.Client
	// Clock is the time for iat checks, the replay cache and key age
	// (default time.Now).
	Clock func() time.Time
	// MaxAge: a SET whose iat is older is refused (default 24h). It must
	// cover the transmitter's retry window, or a SET retried after an
	// outage here is refused and its revocation lost; the replay cache
	// holds each jti for this long.
	MaxAge time.Duration
	// Leeway is the clock skew allowed for iat in the future and exp
	// (default 60s).
	Leeway time.Duration
	// ReplayCacheSize bounds the remembered jti (default 100000). When it
	// is full of unexpired entries new SETs are answered 503.
	ReplayCacheSize int
	// MinKeyRefetchInterval rate-limits JWKS refetches for an unknown kid
	// and after a failed fetch (default 10s).
	MinKeyRefetchInterval time.Duration
	// KeyRefreshInterval: keys older than this are refetched in the
	// background (default 10m).
	KeyRefreshInterval time.Duration
	// KeyMaxAge: keys not refreshed for this long are not trusted; SETs
	// are answered 503 until a fetch succeeds (default 1h).
	KeyMaxAge time.Duration
	// RevokeTimeout bounds one Revoke call (default 10s).
	RevokeTimeout time.Duration
	// MaxBodyBytes bounds a SET (default 64 KiB).
	MaxBodyBytes int64
	// Logger for key fetch failures (default slog.Default()).
	Logger *slog.Logger
}

// asymmetricAlgs is every signature algorithm a public JWKS can verify.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

func (c SSFConfig) withDefaults() (SSFConfig, error) {
	t := &c.Transmitter
	if t.Issuer == "" {
		return c, errors.New("signals: transmitter issuer is required")
	}
	if t.Audience == "" {
		return c, errors.New("signals: transmitter audience is required (SETs for other receivers must be refused)")
	}
	if err := checkKeyURL(t.JWKSURL); err != nil {
		return c, err
	}
	if c.Revoker == nil || c.Auditor == nil {
		return c, errors.New("signals: Revoker and Auditor are required")
	}
	if t.Name == "" {
		t.Name = t.Issuer
	}
	if len(t.Algorithms) == 0 {
		t.Algorithms = asymmetricAlgs
	}
	for _, a := range t.Algorithms {
		if !slices.Contains(asymmetricAlgs, a) {
			return c, fmt.Errorf("signals: algorithm %q is not an asymmetric JWS algorithm", a)
		}
	}
	if len(t.SubjectIssuers) == 0 {
		t.SubjectIssuers = []string{t.Issuer}
	}
	defaultDuration(&c.MaxAge, 24*time.Hour)
	defaultDuration(&c.Leeway, time.Minute)
	defaultDuration(&c.MinKeyRefetchInterval, 10*time.Second)
	defaultDuration(&c.KeyRefreshInterval, 10*time.Minute)
	defaultDuration(&c.KeyMaxAge, time.Hour)
	defaultDuration(&c.RevokeTimeout, 10*time.Second)
	if c.ReplayCacheSize <= 0 {
		c.ReplayCacheSize = 100000
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// checkKeyURL requires https: keys fetched over plain HTTP could be
// replaced by anyone on the path, and with them every check here.
func checkKeyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("signals: JWKS URL %q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") {
			return nil
		}
	}
	return fmt.Errorf("signals: JWKS URL %q must be https (http only on loopback)", raw)
}

func sigAlgs(names []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(names))
	for i, n := range names {
		out[i] = jose.SignatureAlgorithm(n)
	}
	return out
}
