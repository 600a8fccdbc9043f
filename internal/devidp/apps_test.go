package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The redirect URI is never contacted: the test stops at the redirect.
const testRedirect = "http://127.0.0.1:1/connect/callback"

func appOptions() Options {
	opts := testOptions()
	opts.Apps = []App{
		{ClientID: "github-like", RedirectURIs: []string{testRedirect}, Scopes: []string{"repo", "read:user"}},
		{ClientID: "other-app", RedirectURIs: []string{testRedirect}, Scopes: []string{"read:user"}},
	}
	return opts
}

func oauthConfig(idp *IdP, clientID string) *oauth2.Config {
	ep := idp.AppEndpoints()
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: DevSecret(clientID), RedirectURL: testRedirect,
		Scopes:   []string{"repo", "read:user"},
		Endpoint: oauth2.Endpoint{AuthURL: ep.Authorize, TokenURL: ep.Token, AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// browse follows the IdP's redirects like a browser until one leaves for
// the client's redirect URI, and returns that URL's query.
func browse(t *testing.T, start string) url.Values {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := start
	for range 10 {
		if strings.HasPrefix(next, testRedirect) {
			u, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			return u.Query()
		}
		resp, err := client.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET %s: %s %s", next, resp.Status, body)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		next = loc.String()
	}
	t.Fatal("too many redirects")
	return nil
}

// connect runs the whole code flow with PKCE for user and returns the token.
func connect(t *testing.T, idp *IdP, cfg *oauth2.Config, user string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := browse(t, cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", user)))
	if q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("callback query = %v", q)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return tok
}

// apiUserCall calls GET /api/user with the Authorization header value.
func apiUserCall(t *testing.T, idp *IdP, authz string) (int, APIUser) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, idp.AppEndpoints().APIUser, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u APIUser
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, u
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestApp_CodeFlowWithPKCE(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, appOptions())
	tok := connect(t, idp, oauthConfig(idp, "github-like"), "dr-alice")
	if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token: access? %v refresh? %v type %q", tok.AccessToken != "", tok.RefreshToken != "", tok.TokenType)
	}
	if d := time.Until(tok.Expiry); d <= 0 || d > 11*time.Minute {
		t.Errorf("expires in %v", d)
	}
	for _, authz := range []string{"Bearer " + tok.AccessToken, "token " + tok.AccessToken} {
		code, u := apiUserCall(t, idp, authz)
		if code != http.StatusOK || u.Login != "dr-alice" || u.ClientID != "github-like" || !slices.Contains(u.Scopes, "repo") {
			t.Errorf("%s…: %d %+v", authz[:6], code, u)
		}
	}
	var meta struct {
		Grants     []string `json:"grant_types_supported"`
		Revocation string   `json:"revocation_endpoint"`
		PKCE       []string `json:"code_challenge_methods_supported"`
	}
	resp, err := http.Get(idp.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(meta.Grants, "authorization_code") || !slices.Contains(meta.Grants, "refresh_token") ||
		meta.Revocation != idp.AppEndpoints().Revoke || !slices.Contains(meta.PKCE, "S256") {
		t.Errorf("discovery = %+v", meta)
	}
}

func TestApp_AuthorizeRefusals(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, appOptions())
	cfg := oauthConfig(idp, "github-like")
	verifier := oauth2.GenerateVerifier()
	cases := []struct {
		name     string
		opts     []oauth2.AuthCodeOption
		wantCode string
	}{
		{"no PKCE", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("login_hint", "dr-alice")}, "invalid_request"},
		{"plain PKCE", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("login_hint", "dr-alice"),
			oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")}, "invalid_request"},
		{"unknown login_hint", []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "mallory")}, "login_required"},
		{"no login_hint", []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, "login_required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := browse(t, cfg.AuthCodeURL("st-2", tc.opts...))
			if q.Get("error") != tc.wantCode || q.Get("code") != "" || q.Get("state") != "st-2" {
				t.Errorf("callback query = %v, want error=%s", q, tc.wantCode)
			}
		})
	}
	// An agent is not an app: no browser flow, and no redirect to its URI.
	agent := oauthConfig(idp, "note-summarizer")
	resp, err := http.Get(agent.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "dr-alice")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("agent authorize: %s", resp.Status)
	}
}

// TestApp_PKCEVerified: the provider checks the verifier, and a code is
// consumed by its first exchange attempt.
func TestApp_PKCEVerified(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, appOptions())
	cfg := oauthConfig(idp, "github-like")
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	q := browse(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "dr-alice")))
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("wrong verifier: err = %v", err)
	}
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("retry after a failed attempt: err = %v", err)
	}
	q = browse(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "dr-alice")))
	if _, err := cfg.Exchange(ctx, q.Get("code")); oauthErrorCode(err) != "invalid_request" {
		t.Fatalf("no verifier: err = %v", err)
	}
	q = browse(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "dr-alice")))
	if _, err := oauthConfig(idp, "other-app").Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("another app's code: err = %v", err)
	}
}

func TestApp_RefreshRotates(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, appOptions())
	cfg := oauthConfig(idp, "github-like")
	first := connect(t, idp, cfg, "staff-member")
	refresh := func(rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
	}
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.AccessToken == first.AccessToken || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatal("refresh did not issue a new access and refresh token")
	}
	if code, u := apiUserCall(t, idp, "Bearer "+second.AccessToken); code != http.StatusOK || u.Login != "staff-member" {
		t.Errorf("refreshed token at /api/user: %d %+v", code, u)
	}
	if _, err := refresh(first.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("reused refresh token: err = %v", err)
	}
	if _, err := oauthConfig(idp, "other-app").TokenSource(context.Background(), &oauth2.Token{RefreshToken: second.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("another app's refresh token: err = %v", err)
	}
}

func revokeCall(t *testing.T, idp *IdP, clientID, token, hint string) int {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, idp.AppEndpoints().Revoke, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, DevSecret(clientID))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestApp_Revocation(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, appOptions())
	cfg := oauthConfig(idp, "github-like")

	tok := connect(t, idp, cfg, "dr-alice")
	if code := revokeCall(t, idp, "other-app", tok.RefreshToken, "refresh_token"); code != http.StatusBadRequest {
		t.Errorf("another client revoking: %d", code)
	}
	if code, _ := apiUserCall(t, idp, "Bearer "+tok.AccessToken); code != http.StatusOK {
		t.Fatalf("token refused before revocation: %d", code)
	}
	if code := revokeCall(t, idp, "github-like", tok.RefreshToken, "refresh_token"); code != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", code)
	}
	if code, _ := apiUserCall(t, idp, "Bearer "+tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("access token of a revoked grant: %d", code)
	}
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("revoked refresh token: err = %v", err)
	}
	if code := revokeCall(t, idp, "github-like", tok.RefreshToken, ""); code != http.StatusOK {
		t.Errorf("revoking an unknown token (RFC 7009 §2.2): %d", code)
	}

	tok = connect(t, idp, cfg, "dr-alice")
	if code := revokeCall(t, idp, "github-like", tok.AccessToken, "access_token"); code != http.StatusOK {
		t.Fatalf("revoke access token: %d", code)
	}
	if code, _ := apiUserCall(t, idp, "Bearer "+tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("revoked access token: %d", code)
	}
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("revoking the access token also ended the refresh token: %v", err)
	}
}

func TestAPIUser_Refusals(t *testing.T) {
	t.Parallel()
	opts := appOptions()
	opts.Apps = append(opts.Apps, App{ClientID: "short-lived", RedirectURIs: []string{testRedirect},
		Scopes: []string{"repo", "read:user"}, AccessTokenTTL: time.Nanosecond})
	idp := startIdP(t, opts)
	tok := connect(t, idp, oauthConfig(idp, "github-like"), "dr-alice")
	expired := connect(t, idp, oauthConfig(idp, "short-lived"), "dr-alice")
	agentTok, err := Token(context.Background(), idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, authz := range map[string]string{
		"none":                     "",
		"garbage":                  "Bearer not-a-token",
		"no scheme":                tok.AccessToken,
		"basic scheme":             "Basic " + tok.AccessToken,
		"truncated":                "Bearer " + tok.AccessToken[:len(tok.AccessToken)-4],
		"refresh token as bearer":  "Bearer " + tok.RefreshToken,
		"agent's delegated JWT":    "Bearer " + agentTok,
		"expired app access token": "Bearer " + expired.AccessToken,
	} {
		if code, _ := apiUserCall(t, idp, authz); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
}

func TestStart_RefusesBadApps(t *testing.T) {
	t.Parallel()
	for name, apps := range map[string][]App{
		"empty id":        {{RedirectURIs: []string{testRedirect}}},
		"agent id":        {{ClientID: "note-summarizer", RedirectURIs: []string{testRedirect}}},
		"duplicate":       {{ClientID: "a", RedirectURIs: []string{testRedirect}}, {ClientID: "a", RedirectURIs: []string{testRedirect}}},
		"no redirect URI": {{ClientID: "a"}},
	} {
		opts := testOptions()
		opts.Apps = apps
		if _, err := Start(context.Background(), opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
