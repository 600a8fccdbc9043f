package mint

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/principal"
)

// RFC 8693 §2.1 and §3 identifiers.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
)

// Authenticator verifies the caller's own OIDC access token (the
// subject_token). *identity.Verifier is one. An outage should wrap
// identity.ErrUnavailable or ErrUnavailable, so the caller gets 503 rather
// than an error that blames its token.
type Authenticator interface {
	Verify(ctx context.Context, raw string) (principal.Principal, error)
}

// Authorizer decides whether p may call tool on server: the gateway wires
// its registry, SpiceDB and policy here. nil error allows; an outage
// should wrap ErrUnavailable (503); any other error denies.
type Authorizer interface {
	Authorize(ctx context.Context, p principal.Principal, server, tool string) error
}

// Target is an upstream MCP server tokens can be exchanged for.
type Target struct {
	// Server is its registry id: the <server> of the scope.
	Server string
	// Resource is its RFC 8707 resource identifier: the token's aud.
	Resource string
}

// Targets finds the target a resource or audience parameter names.
type Targets interface {
	Target(id string) (Target, bool)
}

// TargetMap is a Targets keyed by every name a target answers to: its
// resource URI and its registry id, typically.
type TargetMap map[string]Target

// Target implements Targets.
func (m TargetMap) Target(id string) (Target, bool) {
	t, ok := m[id]
	return t, ok
}

// ExchangeConfig configures NewExchangeHandler. All but Lifetime and
// Logger are required.
type ExchangeConfig struct {
	Minter        *Minter
	Authenticator Authenticator
	Authorizer    Authorizer
	Targets       Targets
	// Lifetime of issued tokens (default: the minter's default).
	Lifetime time.Duration
	Logger   *slog.Logger
}

// exchangeHandler serves RFC 8693 token exchange for one tool call.
type exchangeHandler struct {
	cfg ExchangeConfig
	log *slog.Logger
}

// NewExchangeHandler returns the token-exchange endpoint, to be mounted on
// the admin API. A caller presents its own OIDC access token and names a
// target server and one tool; if the Authorizer allows, it gets a token
// minted exactly as for a call through the gateway.
func NewExchangeHandler(cfg ExchangeConfig) (http.Handler, error) {
	if cfg.Minter == nil || cfg.Authenticator == nil || cfg.Authorizer == nil || cfg.Targets == nil {
		return nil, errors.New("mint: ExchangeConfig needs Minter, Authenticator, Authorizer and Targets")
	}
	if cfg.Lifetime < 0 || cfg.Lifetime > cfg.Minter.maxLife {
		return nil, errors.New("mint: ExchangeConfig.Lifetime must be between 0 and the minter's MaxLifetime")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &exchangeHandler{cfg: cfg, log: log}, nil
}

// exchangeRequest is a syntactically valid token-exchange request.
type exchangeRequest struct {
	subjectToken string
	issuedType   string
	targets      []string // resource and audience values, in order
	scope        string
	server, tool string
}

// exchangeResponse is RFC 8693 §2.2.1.
type exchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
}

func (h *exchangeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, oerr, detail := h.exchange(w, r)
	if oerr != nil {
		// detail and the error kinds never carry a token.
		h.log.Info("mint: token exchange refused", "error", oerr.code, "status", oerr.status, "detail", detail)
		oerr.write(w)
		return
	}
	writeJSON(w, resp)
}

func (h *exchangeHandler) exchange(w http.ResponseWriter, r *http.Request) (*exchangeResponse, *oauthError, error) {
	form, oerr := readForm(w, r)
	if oerr != nil {
		return nil, oerr, nil
	}
	req, oerr := parseExchange(form)
	if oerr != nil {
		return nil, oerr, nil
	}
	target, oerr := resolveTarget(h.cfg.Targets, req)
	if oerr != nil {
		return nil, oerr, nil
	}
	ctx := r.Context()
	p, err := h.cfg.Authenticator.Verify(ctx, req.subjectToken)
	if err != nil {
		if unavailable(err) {
			return nil, &oauthError{status: http.StatusServiceUnavailable, code: codeUnavailable,
				description: "the subject token could not be checked now; retry later"}, err
		}
		// RFC 8693 §2.2.2: an invalid subject_token is invalid_request.
		return nil, badRequest(codeInvalidRequest, "subject_token is invalid: "+identity.PublicMessage(err)), err
	}
	if p.User == "" || p.Agent == "" {
		return nil, badRequest(codeUnauthorizedClient, "the subject token does not name a user and an acting agent"), nil
	}
	if err := h.cfg.Authorizer.Authorize(ctx, p, target.Server, req.tool); err != nil {
		if unavailable(err) {
			return nil, &oauthError{status: http.StatusServiceUnavailable, code: codeUnavailable,
				description: "authorization is temporarily unavailable; retry later"}, err
		}
		return nil, badRequest(codeUnauthorizedClient, "this agent may not call this tool for this user"), err
	}
	g := GrantFor(p)
	g.Audience, g.Server, g.Tool, g.Lifetime = target.Resource, target.Server, req.tool, h.cfg.Lifetime
	tok, err := h.cfg.Minter.Mint(g)
	switch {
	case errors.Is(err, ErrRevoked):
		return nil, badRequest(codeInvalidGrant, "the user or agent has been revoked"), err
	case errors.Is(err, ErrInvalidGrant):
		return nil, badRequest(codeInvalidRequest, "the subject token's identity cannot be put in a token"), err
	case err != nil:
		return nil, &oauthError{status: http.StatusInternalServerError, code: codeServerError, description: "minting failed"}, err
	}
	return &exchangeResponse{
		AccessToken: tok.Raw, IssuedTokenType: req.issuedType, TokenType: "Bearer",
		ExpiresIn: max(int64(tok.ExpiresAt.Sub(h.cfg.Minter.clock()).Seconds()), 0), Scope: req.scope,
	}, nil, nil
}

func unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, identity.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// parseExchange checks the parameters alone (no token verified, nothing
// looked up): a pure function of the form, table-tested.
func parseExchange(form url.Values) (exchangeRequest, *oauthError) {
	var req exchangeRequest
	vals := map[string]string{}
	for _, name := range [...]string{"grant_type", "subject_token", "subject_token_type", "actor_token",
		"actor_token_type", "requested_token_type", "scope"} {
		v, oerr := single(form, name)
		if oerr != nil {
			return req, oerr
		}
		vals[name] = v
	}
	switch gt := vals["grant_type"]; {
	case gt == "":
		return req, badRequest(codeInvalidRequest, "grant_type is required")
	case gt != GrantTypeTokenExchange:
		return req, badRequest(codeUnsupportedGrantType, "only "+GrantTypeTokenExchange+" is supported")
	}
	switch {
	case vals["subject_token"] == "":
		return req, badRequest(codeInvalidRequest, "subject_token is required")
	case vals["subject_token_type"] == "":
		return req, badRequest(codeInvalidRequest, "subject_token_type is required")
	case vals["subject_token_type"] != TokenTypeAccessToken && vals["subject_token_type"] != TokenTypeJWT:
		return req, badRequest(codeInvalidRequest, "subject_token_type must be the access_token or jwt token type")
	case vals["actor_token"] != "" || vals["actor_token_type"] != "":
		return req, badRequest(codeInvalidRequest, "actor_token is not supported: the acting agent comes from the subject token")
	}
	req.subjectToken = vals["subject_token"]
	switch rt := vals["requested_token_type"]; rt {
	case "":
		req.issuedType = TokenTypeAccessToken
	case TokenTypeAccessToken, TokenTypeJWT:
		req.issuedType = rt
	default:
		return req, badRequest(codeInvalidRequest, "requested_token_type must be the access_token or jwt token type")
	}
	for _, res := range form["resource"] {
		// RFC 8707 §2: an absolute URI without a fragment.
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Host == "" || strings.Contains(res, "#") {
			return req, badRequest(codeInvalidTarget, "resource must be an absolute URI without a fragment")
		}
		req.targets = append(req.targets, res)
	}
	req.targets = append(req.targets, form["audience"]...)
	if len(req.targets) == 0 {
		return req, badRequest(codeInvalidRequest, "resource or audience is required: name the target MCP server")
	}
	scope := vals["scope"]
	if scope == "" {
		return req, badRequest(codeInvalidRequest, "scope is required: name the one tool, "+ScopePrefix+"<server>/<tool>")
	}
	if strings.ContainsAny(scope, " \t") {
		return req, badRequest(codeInvalidScope, "exactly one tool scope per token")
	}
	server, tool, err := ParseScope(scope)
	if err != nil || tool == "" {
		return req, badRequest(codeInvalidScope, "scope must be "+ScopePrefix+"<server>/<tool>")
	}
	req.scope, req.server, req.tool = scope, server, tool
	return req, nil
}

// resolveTarget maps every resource and audience value to one target: a
// token has one audience, so values naming different servers are refused,
// and the scope must name a tool of that same server.
func resolveTarget(targets Targets, req exchangeRequest) (Target, *oauthError) {
	var target Target
	for i, id := range req.targets {
		t, ok := targets.Target(id)
		if !ok {
			return Target{}, badRequest(codeInvalidTarget, "unknown resource or audience")
		}
		if i > 0 && t != target {
			return Target{}, badRequest(codeInvalidTarget, "resource and audience must all name the same server")
		}
		target = t
	}
	if target.Server != req.server {
		return Target{}, badRequest(codeInvalidScope, "the scope names a tool of a different server than the target")
	}
	return target, nil
}
