package mint

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/actiongate/actiongate/internal/principal"
)

// maxClaimLen bounds each string a grant puts in a token, so a token stays
// a header's size whatever the identity provider sent us.
const maxClaimLen = 1024

// Grant is what one token is minted for: one user, through one agent
// chain, calling one tool of one server.
type Grant struct {
	// Subject is the user whose authority is used (sub).
	Subject string
	// Actors is the delegation chain, outermost (the agent acting now)
	// first; it becomes the nested act claim and Actors[0] the client_id.
	// At least one is required: every call is attributable to an agent.
	Actors []principal.Actor
	// Audience is the target MCP server's resource identifier (aud), the
	// RFC 8707 resource an upstream checks it against.
	Audience string
	// Server (registry id) and Tool become the scope
	// mcp:tools:call:<server>/<tool>. An empty Tool mints the server scope
	// mcp:server:<server> instead, for the messages of a session that call
	// no tool; it grants no tools/call.
	Server, Tool string
	// Tenant, Task and DecisionID are carried for attribution; empty ones
	// are left out of the token.
	Tenant, Task, DecisionID string
	// Lifetime of the token; zero means the minter's default. More than
	// the minter's maximum is refused, never silently shortened.
	Lifetime time.Duration
}

// GrantFor starts a Grant from a verified principal: subject, actor chain
// (the chain, or just the agent when the token was not delegated), tenant
// and task. The caller adds the target, the tool and the decision id.
func GrantFor(p principal.Principal) Grant {
	actors := p.Chain
	if len(actors) == 0 && p.Agent != "" {
		actors = []principal.Actor{{Subject: p.Agent}}
	}
	return Grant{Subject: p.User, Actors: actors, Tenant: p.Tenant, Task: p.Task}
}

// validate checks a grant without touching keys or the clock.
func (g *Grant) validate() error {
	switch {
	case g.Subject == "":
		return fail(ErrInvalidGrant, "no subject")
	case len(g.Actors) == 0:
		return fail(ErrInvalidGrant, "no agent: every minted token names the acting agent")
	case len(g.Actors) > maxActors:
		return fail(ErrInvalidGrant, "actor chain too deep")
	case !validServer(g.Server):
		return fail(ErrInvalidGrant, "invalid server id")
	case g.Tool != "" && !validTool(g.Tool):
		return fail(ErrInvalidGrant, "invalid tool name")
	}
	if err := validAudience(g.Audience); err != nil {
		return failWith(ErrInvalidGrant, "audience", err)
	}
	for _, s := range [...]string{g.Subject, g.Tenant, g.Task, g.DecisionID} {
		if !validClaimString(s) {
			return fail(ErrInvalidGrant, "a subject, tenant, task or decision id is too long or not printable UTF-8")
		}
	}
	for _, a := range g.Actors {
		if a.Subject == "" || !validClaimString(a.Subject) || !validClaimString(a.Issuer) {
			return fail(ErrInvalidGrant, "an actor has no subject, or one that is too long or not printable")
		}
	}
	return nil
}

func (g *Grant) scope() string {
	if g.Tool == "" {
		return ServerScope(g.Server)
	}
	return Scope(g.Server, g.Tool)
}

// validAudience accepts an RFC 8707 resource (an absolute URI without a
// fragment) or a logical name without spaces.
func validAudience(aud string) error {
	switch {
	case aud == "":
		return errors.New("empty")
	case !validClaimString(aud) || strings.ContainsAny(aud, " \t"):
		return errors.New("too long, blank or not printable")
	case strings.Contains(aud, "://"):
		u, err := url.Parse(aud)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" || strings.Contains(aud, "#") {
			return errors.New("not an absolute URI without a fragment")
		}
	}
	return nil
}

func validClaimString(s string) bool {
	if len(s) > maxClaimLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Token is a minted access token. Raw is a credential: never log it.
type Token struct {
	Raw       string
	ID        string // jti, for audit and introspection
	ExpiresAt time.Time
}

// MinterConfig configures NewMinter.
type MinterConfig struct {
	// Issuer is iss: the gateway's issuer identifier, the public URL of
	// its admin API (the JWKS is at Issuer + JWKSPath). Required.
	Issuer string
	// Keys signs. Required.
	Keys *KeyRing
	// DefaultLifetime for grants that ask for none (default 5m).
	DefaultLifetime time.Duration
	// MaxLifetime refused above (default: Keys' MaxTokenLifetime, which it
	// may not exceed, or tokens could outlive their key in the JWKS).
	MaxLifetime time.Duration
	// Revocations, if set, is consulted on every Mint.
	Revocations RevocationList
	// Clock (default time.Now).
	Clock func() time.Time
}

// Minter signs grants into tokens. Immutable after NewMinter; safe for
// concurrent use. Mint does no I/O.
type Minter struct {
	issuer      string
	keys        *KeyRing
	defaultLife time.Duration
	maxLife     time.Duration
	revocations RevocationList
	clock       func() time.Time
}

// NewMinter validates cfg.
func NewMinter(cfg MinterConfig) (*Minter, error) {
	if cfg.Keys == nil {
		return nil, errors.New("mint: MinterConfig.Keys is required")
	}
	if err := validIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	ringMax := cfg.Keys.opts.MaxTokenLifetime
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = ringMax
	}
	if cfg.DefaultLifetime == 0 {
		cfg.DefaultLifetime = min(DefaultLifetime, cfg.MaxLifetime)
	}
	switch {
	case cfg.MaxLifetime < time.Second || cfg.DefaultLifetime < time.Second:
		return nil, errors.New("mint: lifetimes must be at least one second")
	case cfg.MaxLifetime > ringMax:
		return nil, fmt.Errorf("mint: MaxLifetime %v exceeds the key ring's MaxTokenLifetime %v", cfg.MaxLifetime, ringMax)
	case cfg.DefaultLifetime > cfg.MaxLifetime:
		return nil, fmt.Errorf("mint: DefaultLifetime %v exceeds MaxLifetime %v", cfg.DefaultLifetime, cfg.MaxLifetime)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Minter{
		issuer: cfg.Issuer, keys: cfg.Keys, defaultLife: cfg.DefaultLifetime, maxLife: cfg.MaxLifetime,
		revocations: cfg.Revocations, clock: cfg.Clock,
	}, nil
}

func validIssuer(iss string) error {
	u, err := url.Parse(iss)
	if iss == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(iss, "/") {
		return fmt.Errorf("mint: issuer %q must be an http(s) URL without query, fragment or trailing slash", iss)
	}
	return nil
}

// Issuer is the iss of every token this minter signs.
func (m *Minter) Issuer() string { return m.issuer }

// MaxLifetime is the longest lifetime Mint accepts.
func (m *Minter) MaxLifetime() time.Duration { return m.maxLife }

// Mint signs g. It refuses (never shortens) a lifetime above the maximum,
// and refuses a revoked user or agent (ErrRevoked).
func (m *Minter) Mint(g Grant) (Token, error) {
	if err := g.validate(); err != nil {
		return Token{}, err
	}
	life := g.Lifetime
	switch {
	case life == 0:
		life = m.defaultLife
	case life < time.Second:
		return Token{}, fail(ErrInvalidGrant, "lifetime must be at least one second")
	case life > m.maxLife:
		return Token{}, fail(ErrLifetime, fmt.Sprintf("%v requested, %v allowed", life, m.maxLife))
	}
	now := m.clock()
	iat := now.Unix()
	if revokedNow(m.revocations, g.Subject, g.Actors) {
		return Token{}, fail(ErrRevoked, "")
	}
	key, err := m.keys.signer(now)
	if err != nil {
		return Token{}, err
	}
	w := wireClaims{
		Iss: m.issuer, Sub: g.Subject, Aud: audience{g.Audience},
		Exp: iat + int64(life/time.Second), Nbf: iat, Iat: iat,
		Jti: newTokenID(), Scope: g.scope(), ClientID: g.Actors[0].Subject,
		Act: actChain(g.Actors), Tenant: g.Tenant, Task: g.Task, DecisionID: g.DecisionID,
	}
	payload, err := json.Marshal(&w)
	if err != nil {
		return Token{}, fmt.Errorf("mint: encoding claims: %w", err)
	}
	raw, err := key.sign(payload)
	if err != nil {
		return Token{}, fmt.Errorf("mint: signing: %w", err)
	}
	return Token{Raw: raw, ID: w.Jti, ExpiresAt: time.Unix(w.Exp, 0)}, nil
}

// newTokenID is 128 random bits, base64url: unique without coordination
// between replicas.
func newTokenID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
