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

// storage is the OP's in-memory state: configured users and agents, the
// signing keys and each user's (derived) assertion key. It implements
// op.Storage plus the client-credentials, token-exchange and JWT-profile
// storages; the browser flows (authorization code, refresh, device) are
// refused because nothing here has a login page.
type storage struct {
	opts     Options
	users    map[string]*userEntry
	agents   map[string]Agent
	keys     *keyRing
	userList []string // sorted, for error messages and the directory
	agentIDs []string
}

type userEntry struct {
	User
	keyID string
	key   *ecdsa.PublicKey
}

var errNoBrowserFlows = errors.New("devidp: browser flows are not supported; use client_credentials, jwt-bearer and token-exchange")

func newStorage(opts Options) (*storage, error) {
	keys, err := newKeyRing(opts.KeyGrace)
	if err != nil {
		return nil, err
	}
	s := &storage{opts: opts, users: map[string]*userEntry{}, agents: map[string]Agent{}, keys: keys}
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
	if _, ok := s.agents[clientID]; !ok {
		return nil, fmt.Errorf("unknown client %q", clientID)
	}
	return agentClient{id: clientID, ttl: s.opts.AccessTokenTTL}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	a, ok := s.agents[clientID]
	if !ok || subtle.ConstantTimeCompare([]byte(a.ClientSecret), []byte(secret)) != 1 {
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

// --- op.AuthStorage ---

func (s *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithParent(errNoBrowserFlows)
}
func (s *storage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errNoBrowserFlows
}
func (s *storage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errNoBrowserFlows
}
func (s *storage) SaveAuthCode(context.Context, string, string) error { return errNoBrowserFlows }
func (s *storage) DeleteAuthRequest(context.Context, string) error    { return nil }

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not issued")
}
func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }
func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrRequestNotSupported().WithDescription("revocation is not supported by the dev IdP")
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.keys.signing(), nil }
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}
func (s *storage) KeySet(context.Context) ([]op.Key, error) { return s.keys.published(time.Now()), nil }
