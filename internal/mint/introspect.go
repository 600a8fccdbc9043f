package mint

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// IntrospectionConfig configures NewIntrospectionHandler.
type IntrospectionConfig struct {
	// Issuer of the tokens: the minter's. Required.
	Issuer string
	// Keys verifies signatures: the minter's *KeyRing. Required.
	Keys KeySource
	// Revocations, if set, makes tokens of revoked users and agents
	// inactive (RevocationList has the rules).
	Revocations RevocationList
	// Authenticate admits the calling resource server (RFC 7662 §2.1
	// requires the endpoint to be protected). Required: a nil error admits.
	Authenticate func(r *http.Request) error
	// Clock (default time.Now). Expiry is checked without leeway (this is
	// the issuer's clock); nbf/iat tolerate DefaultClockSkew, since another
	// replica may have minted the token.
	Clock  func() time.Time
	Logger *slog.Logger
}

// introspectionResponse is RFC 7662 §2.2; inactive tokens say nothing
// else.
type introspectionResponse struct {
	Active     bool     `json:"active"`
	Scope      string   `json:"scope,omitempty"`
	ClientID   string   `json:"client_id,omitempty"`
	TokenType  string   `json:"token_type,omitempty"`
	Exp        int64    `json:"exp,omitempty"`
	Iat        int64    `json:"iat,omitempty"`
	Nbf        int64    `json:"nbf,omitempty"`
	Sub        string   `json:"sub,omitempty"`
	Aud        audience `json:"aud,omitempty"`
	Iss        string   `json:"iss,omitempty"`
	Jti        string   `json:"jti,omitempty"`
	Act        *act     `json:"act,omitempty"`
	Tenant     string   `json:"tenant,omitempty"`
	Task       string   `json:"task,omitempty"`
	DecisionID string   `json:"decision_id,omitempty"`
}

type introspectionHandler struct {
	cfg      IntrospectionConfig
	verifier *Verifier
	log      *slog.Logger
}

// NewIntrospectionHandler returns an RFC 7662 endpoint for tokens this
// gateway minted, for upstreams that check online and so see a
// revocation at once instead of at the token's exp. A token is active
// only if it verifies (signature by a published key, typ, iss), has not
// expired, and neither its user nor any agent of its chain is revoked.
func NewIntrospectionHandler(cfg IntrospectionConfig) (http.Handler, error) {
	if cfg.Issuer == "" || cfg.Keys == nil || cfg.Authenticate == nil {
		return nil, errors.New("mint: IntrospectionConfig needs Issuer, Keys and Authenticate")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// No audience: introspection answers for any of our tokens and reports
	// aud; the caller checks it is its own.
	v := &Verifier{issuer: cfg.Issuer, keys: cfg.Keys, skew: DefaultClockSkew, clock: cfg.Clock}
	return &introspectionHandler{cfg: cfg, verifier: v, log: log}, nil
}

func (h *introspectionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Authenticate(r); err != nil {
		h.log.Info("mint: introspection caller refused", "error", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="introspection"`)
		writeJSONError(w, http.StatusUnauthorized, codeInvalidClient, "the caller is not authorized to introspect tokens")
		return
	}
	form, oerr := readForm(w, r)
	if oerr == nil {
		_, oerr = single(form, "token_type_hint") // ignored (one kind of token), but may not repeat
	}
	var raw string
	if oerr == nil {
		raw, oerr = single(form, "token")
	}
	if oerr == nil && raw == "" {
		oerr = badRequest(codeInvalidRequest, "token is required")
	}
	if oerr != nil {
		oerr.write(w)
		return
	}
	writeJSON(w, h.introspect(r.Context(), raw))
}

// introspect never reports why a token is inactive (RFC 7662 §2.2: that
// would help an attacker); the log has it.
func (h *introspectionHandler) introspect(ctx context.Context, raw string) introspectionResponse {
	now := h.cfg.Clock()
	c, err := h.verifier.verify(ctx, raw, now)
	if err == nil && revokedFor(h.cfg.Revocations, c.Subject, c.actorsOrClient(), c.IssuedAt) {
		err = fail(ErrRevoked, "")
	}
	if err != nil {
		h.log.Debug("mint: introspected token is inactive", "error", err)
		return introspectionResponse{Active: false}
	}
	resp := introspectionResponse{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
		Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(), Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer,
		Jti: c.ID, Act: actChain(c.Actors), Tenant: c.Tenant, Task: c.Task, DecisionID: c.DecisionID,
	}
	if !c.NotBefore.IsZero() {
		resp.Nbf = c.NotBefore.Unix()
	}
	return resp
}
