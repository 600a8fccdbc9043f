package devidp

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is the OP's in-memory state: configured users, agents and apps,
// the signing keys and each user's (derived) assertion key. It implements
// op.Storage plus the client-credentials, token-exchange and JWT-profile
// storages. The browser flow (authorization code with PKCE, refresh,
// revocation) is open to Apps only, with a DEV ONLY auto-approving login
// step (apps.go); agents never get it, and the device flow is refused.
type storage struct {
	opts       Options
	users      map[string]*userEntry
	agents     map[string]Agent
	appClients map[string]appClient
	apps       *appState
	keys       *keyRing
	userList   []string // sorted, for error messages and the directory
	agentIDs   []string
	appIDs     []string
}

type userEntry struct {
	User
	keyID string
	key   *ecdsa.PublicKey
}

var errNoBrowserFlows = errors.New("devidp: browser flows are for apps only; agents use client_credentials, jwt-bearer and token-exchange")

func newStorage(opts Options) (*storage, error) {
	keys, err := newKeyRing(opts.KeyGrace)
	if err != nil {
		return nil, err
	}
	s := &storage{opts: opts, users: map[string]*userEntry{}, agents: map[string]Agent{}, keys: keys, apps: newAppState()}
	for _, u := range opts.Users {
		if u.Subject == "" || s.users[u.Subject] != nil {
			return nil, fmt.Errorf("devidp: user subject %q is empty or repeated", u.Subject)
		}
		priv, kid, err := userKey(u.Subject)
		if err != nil {
			return nil, err
		}
		s.users[u.Subject] = &userEntry{User: u, keyID: kid, key: &priv.PublicKey}
		s.userList = append(s.userList, u.Subject)
	}
	for _, a := range opts.Agents {
		if _, dup := s.agents[a.ClientID]; a.ClientID == "" || dup {
			return nil, fmt.Errorf("devidp: agent client id %q is empty or repeated", a.ClientID)
		}
		if _, clash := s.users[a.ClientID]; clash {
			return nil, fmt.Errorf("devidp: %q is both a user and an agent", a.ClientID)
		}
		if a.ClientSecret == "" {
			a.ClientSecret = DevSecret(a.ClientID)
		}
		s.agents[a.ClientID] = a
		s.agentIDs = append(s.agentIDs, a.ClientID)
	}
	sort.Strings(s.userList)
	sort.Strings(s.agentIDs)
	if err := s.addApps(opts.Apps); err != nil {
		return nil, err
	}
	return s, nil
}

func newTokenID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// agentClient is an agent as an op.Client: a confidential client using
// HTTP Basic authentication, issuing JWT access tokens.
type agentClient struct {
	id  string
	ttl time.Duration
}

func (c agentClient) GetID() string                       { return c.id }
func (c agentClient) RedirectURIs() []string              { return nil }
func (c agentClient) PostLogoutRedirectURIs() []string    { return nil }
func (c agentClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c agentClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c agentClient) ResponseTypes() []oidc.ResponseType  { return nil }
func (c agentClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials, oidc.GrantTypeTokenExchange}
}
func (c agentClient) LoginURL(string) string               { return "" }
func (c agentClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c agentClient) IDTokenLifetime() time.Duration       { return c.ttl }
func (c agentClient) DevMode() bool                        { return false }
func (c agentClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c agentClient) ClockSkew() time.Duration             { return 0 }
func (c agentClient) IsScopeAllowed(scope string) bool     { return strings.HasPrefix(scope, tenantScope) }
func (c agentClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c agentClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// --- op.OPStorage ---

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if app, ok := s.appClients[clientID]; ok {
		return app, nil
	}
	if _, ok := s.agents[clientID]; !ok {
		return nil, fmt.Errorf("unknown client %q", clientID)
	}
	return agentClient{id: clientID, ttl: s.opts.AccessTokenTTL}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	want := s.agents[clientID].ClientSecret
	if app, ok := s.appClients[clientID]; ok {
		want = app.app.ClientSecret
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return errors.New("unknown client or wrong secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	if _, ok := s.users[subject]; !ok {
		return fmt.Errorf("unknown user %q", subject)
	}
	info.Subject = subject
	return nil
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("devidp: introspection is not supported; access tokens are JWTs")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID returns a user's assertion key for the JWT-bearer
// grant (clientID is the assertion's iss, which op requires to equal sub).
func (s *storage) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	u, ok := s.users[clientID]
	if !ok {
		return nil, fmt.Errorf("unknown user %q", clientID)
	}
	if keyID != u.keyID {
		return nil, fmt.Errorf("user %q has no key %q", clientID, keyID)
	}
	return &jose.JSONWebKey{KeyID: u.keyID, Algorithm: string(jose.ES256), Use: "sig", Key: u.key}, nil
}

func (s *storage) ValidateJWTProfileScopes(_ context.Context, userID string, scopes []string) ([]string, error) {
	if _, ok := s.users[userID]; !ok {
		return nil, fmt.Errorf("unknown user %q", userID)
	}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		return []string{oidc.ScopeOpenID}, nil
	}
	return nil, nil
}

// JWTProfileTokenType makes user tokens JWTs, so token exchange verifies
// them like any other access token.
func (s *storage) JWTProfileTokenType(context.Context, op.TokenRequest) (op.AccessTokenType, error) {
	return op.AccessTokenTypeJWT, nil
}

func (s *storage) Health(context.Context) error { return nil }

// --- op.AuthStorage: the browser flow, for Apps only (see apps.go) ---

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if _, ok := s.appClients[req.ClientID]; !ok {
		return nil, oidc.ErrUnsupportedGrantType().WithParent(errNoBrowserFlows)
	}
	return s.createAppAuthRequest(req)
}
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	return s.authRequestByID(id)
}
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	return s.authRequestByCode(code)
}
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	return s.saveAuthCode(id, code)
}
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.deleteAuthRequest(id)
	return nil
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	return s.issueAppTokens(req, current, true)
}
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	return s.refreshGrant(token)
}
func (s *storage) GetRefreshTokenInfo(_ context.Context, _, token string) (string, string, error) {
	return s.refreshTokenInfo(token)
}
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken revokes app tokens (RFC 7009); agents' JWTs cannot be
// revoked here, as before.
func (s *storage) RevokeToken(_ context.Context, tokenID, _, clientID string) *oidc.Error {
	if handled, err := s.revoke(tokenID, clientID); handled {
		return err
	}
	return oidc.ErrRequestNotSupported().WithDescription("the dev IdP revokes only app tokens")
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.keys.signing(), nil }
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}
func (s *storage) KeySet(context.Context) ([]op.Key, error) { return s.keys.published(time.Now()), nil }
