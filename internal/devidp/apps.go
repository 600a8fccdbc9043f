package devidp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// App is an upstream-style OAuth client, like a GitHub OAuth app: the
// gateway's credential broker connects users to it with the authorization
// code flow and PKCE (S256, required), gets a refresh token with every
// code, refreshes, revokes (RFC 7009), and the upstream tool server calls
// APIUserPath with the injected access token.
//
// DEV ONLY: there is no login page. The authorize step auto-approves the
// dev user named by the request's login_hint (see ApprovePath), so anyone
// who can reach the IdP can obtain a token for any configured user.
type App struct {
	ClientID string
	// ClientSecret defaults to DevSecret(ClientID).
	ClientSecret string
	// RedirectURIs registered for the app; exact match (op's rule).
	RedirectURIs []string
	// Scopes the app may be granted, e.g. "repo", "read:user".
	Scopes []string
	// AccessTokenTTL of the app's access tokens (default
	// Options.AccessTokenTTL). Refresh tokens live Options.RefreshTokenTTL.
	AccessTokenTTL time.Duration
}

// Paths the dev IdP serves for apps besides op's /authorize, /oauth/token
// and /revoke.
const (
	// ApprovePath is op's login URL for apps. DEV ONLY: it approves the
	// auth request for its login_hint user without asking anyone.
	ApprovePath = "/dev/approve"
	// APIUserPath is a protected API like GitHub's GET /user: it answers
	// only valid, unexpired, unrevoked access tokens issued to an app.
	APIUserPath = "/api/user"
)

// authRequestTTL bounds an auth request from /authorize to the code
// exchange.
const authRequestTTL = 5 * time.Minute

// AppEndpoints are the URLs an OAuth client of the dev IdP needs.
type AppEndpoints struct {
	Authorize, Token, Revoke, APIUser string
}

// AppEndpoints returns the IdP's endpoints for Apps.
func (i *IdP) AppEndpoints() AppEndpoints {
	return AppEndpoints{
		Authorize: i.Issuer + "/authorize",
		Token:     i.Issuer + "/oauth/token",
		Revoke:    i.Issuer + "/revoke",
		APIUser:   i.Issuer + APIUserPath,
	}
}

// appClient is an App as an op.Client: confidential (Basic or post),
// authorization code + refresh token, opaque access tokens like GitHub's.
type appClient struct {
	app    App
	issuer string
}

func (c appClient) GetID() string                       { return c.app.ClientID }
func (c appClient) RedirectURIs() []string              { return c.app.RedirectURIs }
func (c appClient) PostLogoutRedirectURIs() []string    { return nil }
func (c appClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c appClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c appClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c appClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c appClient) LoginURL(id string) string {
	return c.issuer + ApprovePath + "?id=" + id
}
func (c appClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c appClient) IDTokenLifetime() time.Duration       { return c.app.AccessTokenTTL }
func (c appClient) DevMode() bool                        { return false }
func (c appClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c appClient) ClockSkew() time.Duration             { return 0 }
func (c appClient) IsScopeAllowed(scope string) bool     { return slices.Contains(c.app.Scopes, scope) }
func (c appClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c appClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// appState is everything the browser flow mutates; storage's other fields
// are fixed at start.
type appState struct {
	mu       sync.Mutex
	requests map[string]*authRequest // by id
	codes    map[string]string       // code → request id; consumed on first use
	access   map[string]*issuedToken // by token id (op encrypts "id:subject" into the bearer token)
	refresh  map[string]*issuedToken // by refresh token value
}

// issuedToken is one access or refresh token. Tokens of one grant (a code
// and every refresh after it) share grantID, so revoking the refresh token
// ends the whole grant (RFC 7009 §2.1).
type issuedToken struct {
	id, grantID, subject, clientID string
	scopes                         []string
	authTime                       time.Time
	expires                        time.Time
}

// authRequest implements op.AuthRequest.
type authRequest struct {
	id, clientID, redirectURI, state, nonce, loginHint string
	scopes                                             []string
	responseType                                       oidc.ResponseType
	responseMode                                       oidc.ResponseMode
	challenge                                          *oidc.CodeChallenge
	subject                                            string
	authTime                                           time.Time
	done                                               bool
	expires                                            time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"dev-auto-approve"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// refreshGrant implements op.RefreshTokenRequest for one refresh token.
type refreshGrant struct{ tok issuedToken }

func (g *refreshGrant) GetAMR() []string            { return []string{"dev-auto-approve"} }
func (g *refreshGrant) GetAudience() []string       { return []string{g.tok.clientID} }
func (g *refreshGrant) GetAuthTime() time.Time      { return g.tok.authTime }
func (g *refreshGrant) GetClientID() string         { return g.tok.clientID }
func (g *refreshGrant) GetScopes() []string         { return g.tok.scopes }
func (g *refreshGrant) GetSubject() string          { return g.tok.subject }
func (g *refreshGrant) SetCurrentScopes(s []string) { g.tok.scopes = s }

func newAppState() *appState {
	return &appState{
		requests: map[string]*authRequest{}, codes: map[string]string{},
		access: map[string]*issuedToken{}, refresh: map[string]*issuedToken{},
	}
}

// pruneLocked drops what has expired, so a long-running dev IdP stays small.
func (st *appState) pruneLocked(now time.Time) {
	for id, r := range st.requests {
		if now.After(r.expires) {
			delete(st.requests, id)
		}
	}
	for code, id := range st.codes {
		if _, ok := st.requests[id]; !ok {
			delete(st.codes, code)
		}
	}
	for id, t := range st.access {
		if now.After(t.expires) {
			delete(st.access, id)
		}
	}
	for v, t := range st.refresh {
		if now.After(t.expires) {
			delete(st.refresh, v)
		}
	}
}

// createAppAuthRequest admits an authorization request from an App: PKCE
// with S256 is mandatory (op then verifies the verifier at the token
// endpoint), and login_hint must name a dev user — the one the DEV ONLY
// auto-approval will log in. Every app grant carries offline_access, so
// the code yields a refresh token as GitHub's expiring tokens do.
func (s *storage) createAppAuthRequest(req *oidc.AuthRequest) (op.AuthRequest, error) {
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("apps use response_type=code")
	}
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if _, ok := s.users[req.LoginHint]; !ok {
		return nil, oidc.ErrLoginRequired().WithDescription("the dev IdP has no login page: login_hint must name a dev user")
	}
	scopes := slices.Clone(req.Scopes)
	if !slices.Contains(scopes, oidc.ScopeOfflineAccess) {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	now := time.Now()
	ar := &authRequest{
		id: newTokenID(), clientID: req.ClientID, redirectURI: req.RedirectURI, state: req.State,
		nonce: req.Nonce, loginHint: req.LoginHint, scopes: scopes, responseType: req.ResponseType,
		responseMode: req.ResponseMode, expires: now.Add(authRequestTTL),
		challenge: &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
	}
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pruneLocked(now)
	st.requests[ar.id] = ar
	c := *ar
	return &c, nil
}

// serveApprove is the DEV ONLY login step: no user interaction, the auth
// request is approved for its login_hint user and the browser goes on to
// op's callback, which issues the code.
func (s *storage) serveApprove(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	st := s.apps
	st.mu.Lock()
	ar, ok := st.requests[id]
	if ok && (ar.done || time.Now().After(ar.expires)) {
		ok = false
	}
	if ok {
		ar.subject, ar.authTime, ar.done = ar.loginHint, time.Now(), true
	}
	st.mu.Unlock()
	if !ok {
		http.Error(w, "devidp: unknown, expired or already approved auth request", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, s.opts.Issuer+"/authorize/callback?id="+id, http.StatusFound)
}

func (s *storage) authRequestByID(id string) (op.AuthRequest, error) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	ar, ok := st.requests[id]
	if !ok || time.Now().After(ar.expires) {
		return nil, errors.New("devidp: unknown or expired auth request")
	}
	c := *ar
	return &c, nil
}

// authRequestByCode consumes the code: a second attempt — even after a
// wrong code_verifier — fails, so a stolen code cannot be retried.
func (s *storage) authRequestByCode(code string) (op.AuthRequest, error) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	id, ok := st.codes[code]
	delete(st.codes, code)
	ar, found := st.requests[id]
	if !ok || !found || !ar.done || time.Now().After(ar.expires) {
		return nil, errors.New("devidp: unknown, used or expired code")
	}
	c := *ar
	return &c, nil
}

func (s *storage) saveAuthCode(id, code string) error {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.requests[id]; !ok {
		return errors.New("devidp: unknown auth request")
	}
	st.codes[code] = id
	return nil
}

func (s *storage) deleteAuthRequest(id string) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.requests, id)
}

// issueAppTokens records an access token (and, when withRefresh, a new
// refresh token) for an app grant. A refresh rotates: the presented
// refresh token stops working, the grant's other tokens stay.
func (s *storage) issueAppTokens(req op.TokenRequest, presented string, withRefresh bool) (accessID, refresh string, exp time.Time, err error) {
	var base issuedToken
	switch r := req.(type) {
	case *authRequest:
		base = issuedToken{grantID: newTokenID(), subject: r.subject, clientID: r.clientID, scopes: r.scopes, authTime: r.authTime}
	case *refreshGrant:
		base = r.tok
	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are issued to apps only")
	}
	app, ok := s.appClients[base.clientID]
	if !ok {
		return "", "", time.Time{}, oidc.ErrUnauthorizedClient()
	}
	now := time.Now()
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	if presented != "" {
		old, ok := st.refresh[presented]
		if !ok || old.grantID != base.grantID {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used or revoked")
		}
		delete(st.refresh, presented)
	}
	access := base
	access.id, access.expires = newTokenID(), now.Add(app.app.AccessTokenTTL)
	st.access[access.id] = &access
	if withRefresh {
		rt := base
		rt.id, rt.expires = newTokenID(), now.Add(s.opts.RefreshTokenTTL)
		refresh = newSecret()
		st.refresh[refresh] = &rt
	}
	return access.id, refresh, access.expires, nil
}

func (s *storage) refreshGrant(token string) (op.RefreshTokenRequest, error) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.refresh[token]
	if !ok || time.Now().After(t.expires) {
		return nil, op.ErrInvalidRefreshToken
	}
	return &refreshGrant{tok: *t}, nil
}

// refreshTokenInfo serves op's revocation endpoint only. It finds the
// token whoever asks, so that revoke can refuse another client's token
// (RFC 7009 §2.1) instead of treating it as unknown.
func (s *storage) refreshTokenInfo(token string) (subject, id string, err error) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.refresh[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, t.id, nil
}

// revoke implements RFC 7009 for app tokens. op has already authenticated
// the client and turned the token into its id (refresh tokens through
// GetRefreshTokenInfo, bearer tokens by decryption). A refresh token ends
// its whole grant; an access token only itself. Unknown tokens are not an
// error (RFC 7009 §2.2), but another client's token is refused.
func (s *storage) revoke(tokenID, clientID string) (handled bool, _ *oidc.Error) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	for v, t := range st.refresh {
		if t.id != tokenID {
			continue
		}
		if t.clientID != clientID {
			return true, oidc.ErrUnauthorizedClient().WithDescription("token was issued to another client")
		}
		delete(st.refresh, v)
		for id, a := range st.access {
			if a.grantID == t.grantID {
				delete(st.access, id)
			}
		}
		for v2, r := range st.refresh {
			if r.grantID == t.grantID {
				delete(st.refresh, v2)
			}
		}
		return true, nil
	}
	if a, ok := st.access[tokenID]; ok {
		if a.clientID != clientID {
			return true, oidc.ErrUnauthorizedClient().WithDescription("token was issued to another client")
		}
		delete(st.access, tokenID)
		return true, nil
	}
	_, isApp := s.appClients[clientID]
	return isApp, nil
}

// activeAccess returns the live access token with this id and subject.
func (s *storage) activeAccess(id, subject string) (issuedToken, bool) {
	st := s.apps
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.access[id]
	if !ok || t.subject != subject || time.Now().After(t.expires) {
		return issuedToken{}, false
	}
	if _, isApp := s.appClients[t.clientID]; !isApp {
		return issuedToken{}, false
	}
	return *t, true
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *storage) addApps(apps []App) error {
	s.appClients = map[string]appClient{}
	for _, a := range apps {
		_, dupApp := s.appClients[a.ClientID]
		_, isAgent := s.agents[a.ClientID]
		_, isUser := s.users[a.ClientID]
		if a.ClientID == "" || dupApp || isAgent || isUser {
			return fmt.Errorf("devidp: app client id %q is empty or already an app, agent or user", a.ClientID)
		}
		if len(a.RedirectURIs) == 0 {
			return fmt.Errorf("devidp: app %q has no redirect URIs", a.ClientID)
		}
		if a.ClientSecret == "" {
			a.ClientSecret = DevSecret(a.ClientID)
		}
		if a.AccessTokenTTL <= 0 {
			a.AccessTokenTTL = s.opts.AccessTokenTTL
		}
		s.appClients[a.ClientID] = appClient{app: a, issuer: s.opts.Issuer}
		s.appIDs = append(s.appIDs, a.ClientID)
	}
	slices.Sort(s.appIDs)
	return nil
}

var (
	_ op.AuthRequest         = (*authRequest)(nil)
	_ op.RefreshTokenRequest = (*refreshGrant)(nil)
)
