package devidp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// tenantScope is how a token-exchange request picks one of the user's
// tenants: scope=tenant:<id>. Without it the user's Tenant is used.
const tenantScope = "tenant:"

// maxUnixSeconds is the last second of year 9999.
const maxUnixSeconds = 253402300799

// CreateAccessToken names and times every access token op signs. A
// delegated token never outlives the user token it was exchanged from.
// App grants always carry offline_access, so they come through
// CreateAccessAndRefreshTokens; one that did not is recorded here.
func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	if _, ok := req.(*authRequest); ok {
		id, _, exp, err := s.issueAppTokens(req, "", false)
		return id, exp, err
	}
	exp := time.Now().Add(s.opts.AccessTokenTTL)
	if te, ok := req.(op.TokenExchangeRequest); ok {
		if subExp, ok := numericDate(te.GetExchangeSubjectTokenClaims()["exp"]); ok && subExp.Before(exp) {
			exp = subExp
		}
	}
	return newTokenID(), exp, nil
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || f <= 0 || f > maxUnixSeconds {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// --- op.ClientCredentialsStorage: the agent's own token (the actor token) ---

func (s *storage) ClientCredentials(_ context.Context, clientID, secret string) (op.Client, error) {
	a, ok := s.agents[clientID]
	if !ok || subtle.ConstantTimeCompare([]byte(a.ClientSecret), []byte(secret)) != 1 {
		return nil, errors.New("unknown client or wrong secret")
	}
	return agentClient{id: clientID, ttl: s.opts.AccessTokenTTL}, nil
}

// ClientCredentialsTokenRequest: sub = aud = the agent, so the token is
// good as an actor token here and for nothing at the gateway.
func (s *storage) ClientCredentialsTokenRequest(_ context.Context, clientID string, _ []string) (op.TokenRequest, error) {
	if _, ok := s.agents[clientID]; !ok {
		return nil, fmt.Errorf("unknown client %q", clientID)
	}
	return &oidc.JWTTokenRequest{Subject: clientID, Audience: []string{clientID}}, nil
}

// --- op.TokenExchangeStorage: the delegated token ---

// ValidateTokenExchangeRequest admits delegation only: the authenticated
// agent presents a user's access token as subject_token and its own as
// actor_token, for the gateway's audience.
func (s *storage) ValidateTokenExchangeRequest(_ context.Context, req op.TokenExchangeRequest) error {
	agent := req.GetClientID()
	switch {
	case req.GetExchangeActor() == "":
		return oidc.ErrInvalidRequest().WithDescription("actor_token is required: the dev IdP issues delegated tokens only, never impersonation")
	case req.GetExchangeActor() != agent:
		return oidc.ErrInvalidRequest().WithDescription("actor_token must be the authenticated client's own token")
	case req.GetExchangeActorTokenType() != oidc.AccessTokenType || req.GetExchangeSubjectTokenType() != oidc.AccessTokenType:
		return oidc.ErrInvalidRequest().WithDescription("subject_token_type and actor_token_type must be %s", oidc.AccessTokenType)
	}
	user, ok := s.users[req.GetExchangeSubject()]
	if !ok {
		return oidc.ErrInvalidRequest().WithDescription("subject_token does not represent a known user")
	}
	switch req.GetRequestedTokenType() {
	case "":
		req.SetRequestedTokenType(oidc.AccessTokenType)
	case oidc.AccessTokenType:
	default:
		return oidc.ErrInvalidRequest().WithDescription("only requested_token_type=%s is issued", oidc.AccessTokenType)
	}
	aud := req.GetAudience()
	if len(aud) != 1 || aud[0] != s.opts.Audience {
		return oidc.ErrInvalidTarget().WithDescription("audience must be exactly %q (the gateway)", s.opts.Audience)
	}
	for _, r := range req.GetResourses() {
		if r != s.opts.Audience {
			return oidc.ErrInvalidTarget().WithDescription("resource %q is not served by this IdP; use audience=%s", r, s.opts.Audience)
		}
	}
	tenant, err := user.tenantFor(req.GetScopes())
	if err != nil {
		return oidc.ErrInvalidScope().WithDescription("%s", err.Error())
	}
	if tenant != "" {
		req.SetCurrentScopes([]string{tenantScope + tenant})
	} else {
		req.SetCurrentScopes(nil)
	}
	return nil
}

// tenantFor picks the tenant a request asks for (at most one tenant:
// scope, and it must be one of the user's) or the user's default.
func (u *userEntry) tenantFor(scopes []string) (string, error) {
	var asked []string
	for _, sc := range scopes {
		if t, ok := strings.CutPrefix(sc, tenantScope); ok {
			asked = append(asked, t)
		}
	}
	switch {
	case len(asked) == 0:
		return u.Tenant, nil
	case len(asked) > 1:
		return "", errors.New("request at most one tenant:<id> scope")
	case asked[0] == u.Tenant || slices.Contains(u.Tenants, asked[0]):
		return asked[0], nil
	}
	known := append([]string{u.Tenant}, u.Tenants...)
	return "", fmt.Errorf("user %q is not a member of tenant %q (tenants: %s)",
		u.Subject, asked[0], strings.Join(known, ", "))
}

func (s *storage) CreateTokenExchangeRequest(context.Context, op.TokenExchangeRequest) error {
	return nil
}

// GetPrivateClaimsFromTokenExchangeRequest adds what the gateway derives
// the principal from: act (RFC 8693 §4.1, nesting any delegation the
// subject token already carried), tenant and groups. op itself sets iss,
// sub, aud, exp, iat, nbf, jti and client_id (= the agent), and registered
// claims override private ones, so none of those can be spoofed here.
func (s *storage) GetPrivateClaimsFromTokenExchangeRequest(_ context.Context, req op.TokenExchangeRequest) (map[string]any, error) {
	user, ok := s.users[req.GetSubject()]
	if !ok {
		return nil, oidc.ErrInvalidRequest().WithDescription("subject_token does not represent a known user")
	}
	tenant, err := user.tenantFor(req.GetScopes())
	if err != nil {
		return nil, oidc.ErrInvalidScope().WithDescription("%s", err.Error())
	}
	act := map[string]any{"sub": req.GetExchangeActor()}
	if prior, ok := req.GetExchangeSubjectTokenClaims()["act"]; ok && prior != nil {
		act["act"] = prior
	}
	claims := map[string]any{"act": act}
	if tenant != "" {
		claims["tenant"] = tenant
	}
	if len(user.Groups) > 0 {
		claims["groups"] = user.Groups
	}
	return claims, nil
}

func (s *storage) SetUserinfoFromTokenExchangeRequest(_ context.Context, info *oidc.UserInfo, req op.TokenExchangeRequest) error {
	info.Subject = req.GetSubject()
	return nil
}
