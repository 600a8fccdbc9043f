package mint

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/principal"
)

// allowList is a small real policy: (agent, server, tool) triples.
type allowList struct {
	mu          sync.Mutex
	allowed     map[string]bool
	unavailable bool
}

func (a *allowList) Authorize(_ context.Context, p principal.Principal, server, tool string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.unavailable {
		return fmt.Errorf("policy store down: %w", ErrUnavailable)
	}
	if !a.allowed[p.Agent+" "+server+" "+tool] {
		return errors.New("denied by policy")
	}
	return nil
}

type exchangeEnv struct {
	url     string
	token   string // a real delegated token from the dev IdP
	ring    *KeyRing
	revoked *Revocations
	policy  *allowList
}

// newExchangeEnv runs a real OpenID Provider (the dev IdP), the real
// identity verifier as the Authenticator, and the exchange endpoint, all on
// loopback.
func newExchangeEnv(t *testing.T) *exchangeEnv {
	t.Helper()
	ctx := context.Background()
	idp, err := devidp.Start(ctx, devidp.Options{
		Users:  []devidp.User{{Subject: "dr-alice", Tenant: "st-marys"}},
		Agents: []devidp.Agent{{ClientID: "note-summarizer"}},
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Stop)
	authn, err := identity.New(ctx, identity.Config{
		Issuers:   []identity.IssuerConfig{{URL: idp.Issuer}},
		Audiences: []string{devidp.DefaultAudience}, DiscoveryTimeout: 5 * time.Second, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := devidp.Token(ctx, idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := LoadKeyRing(t.TempDir(), KeyRingOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	env := &exchangeEnv{token: tok, ring: ring, revoked: NewRevocations(),
		policy: &allowList{allowed: map[string]bool{"note-summarizer ehr read_chart": true}}}
	minter, err := NewMinter(MinterConfig{Issuer: testIssuer, Keys: ring, Revocations: env.revoked})
	if err != nil {
		t.Fatal(err)
	}
	ehr := Target{Server: "ehr", Resource: testResource}
	billing := Target{Server: "billing", Resource: "https://mcp.example.test/billing"}
	h, err := NewExchangeHandler(ExchangeConfig{
		Minter: minter, Authenticator: authn, Authorizer: env.policy, Logger: quietLogger(),
		Targets: TargetMap{testResource: ehr, "ehr": ehr, billing.Resource: billing, "billing": billing},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	env.url = srv.URL
	return env
}

func (e *exchangeEnv) form() url.Values {
	return url.Values{
		"grant_type":         {GrantTypeTokenExchange},
		"subject_token":      {e.token},
		"subject_token_type": {TokenTypeAccessToken},
		"resource":           {testResource},
		"scope":              {Scope("ehr", "read_chart")},
	}
}

func post(t *testing.T, u string, form url.Values, contentType string) (int, http.Header, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response is not JSON: %q", raw)
	}
	return resp.StatusCode, resp.Header, body, string(raw)
}

func TestExchangeHandler(t *testing.T) {
	t.Parallel()
	env := newExchangeEnv(t)
	const form = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name        string
		edit        func(url.Values)
		contentType string
		path        string
		setup       func()
		status      int
		code        string
	}{
		{name: "issued", status: 200},
		{name: "audience by registry id", edit: func(f url.Values) { f.Del("resource"); f.Set("audience", "ehr") }, status: 200},
		{name: "resource and audience agree", edit: func(f url.Values) { f.Set("audience", "ehr") }, status: 200},
		{name: "jwt subject token type", edit: func(f url.Values) { f.Set("subject_token_type", TokenTypeJWT) }, status: 200},
		{name: "form with charset", contentType: form + "; charset=utf-8", status: 200},
		{name: "not a form", contentType: "application/json", status: 400, code: "invalid_request"},
		{name: "parameters in the URL", path: "?subject_token=x", status: 400, code: "invalid_request"},
		{name: "no grant_type", edit: func(f url.Values) { f.Del("grant_type") }, status: 400, code: "invalid_request"},
		{name: "other grant_type", edit: func(f url.Values) { f.Set("grant_type", "client_credentials") }, status: 400, code: "unsupported_grant_type"},
		{name: "no subject_token", edit: func(f url.Values) { f.Del("subject_token") }, status: 400, code: "invalid_request"},
		{name: "repeated subject_token", edit: func(f url.Values) { f.Add("subject_token", "x") }, status: 400, code: "invalid_request"},
		{name: "no subject_token_type", edit: func(f url.Values) { f.Del("subject_token_type") }, status: 400, code: "invalid_request"},
		{name: "id_token subject", edit: func(f url.Values) { f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:id_token") }, status: 400, code: "invalid_request"},
		{name: "actor_token", edit: func(f url.Values) {
			f.Set("actor_token", "x")
			f.Set("actor_token_type", TokenTypeAccessToken)
		}, status: 400, code: "invalid_request"},
		{name: "refresh token requested", edit: func(f url.Values) { f.Set("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token") }, status: 400, code: "invalid_request"},
		{name: "tampered subject token", edit: func(f url.Values) { f.Set("subject_token", env.token[:len(env.token)-3]+"AAA") }, status: 400, code: "invalid_request"},
		{name: "garbage subject token", edit: func(f url.Values) { f.Set("subject_token", "not-a-jwt") }, status: 400, code: "invalid_request"},
		{name: "no target", edit: func(f url.Values) { f.Del("resource") }, status: 400, code: "invalid_request"},
		{name: "unknown resource", edit: func(f url.Values) { f.Set("resource", "https://elsewhere.example.test/mcp") }, status: 400, code: "invalid_target"},
		{name: "relative resource", edit: func(f url.Values) { f.Set("resource", "/ehr") }, status: 400, code: "invalid_target"},
		{name: "resource with fragment", edit: func(f url.Values) { f.Set("resource", testResource+"#x") }, status: 400, code: "invalid_target"},
		{name: "two servers", edit: func(f url.Values) { f.Set("audience", "billing") }, status: 400, code: "invalid_target"},
		{name: "no scope", edit: func(f url.Values) { f.Del("scope") }, status: 400, code: "invalid_request"},
		{name: "malformed scope", edit: func(f url.Values) { f.Set("scope", "openid") }, status: 400, code: "invalid_scope"},
		{name: "server scope", edit: func(f url.Values) { f.Set("scope", ServerScope("ehr")) }, status: 400, code: "invalid_scope"},
		{name: "two scopes", edit: func(f url.Values) { f.Set("scope", Scope("ehr", "read_chart")+" "+Scope("ehr", "write_summary")) }, status: 400, code: "invalid_scope"},
		{name: "scope of another server", edit: func(f url.Values) { f.Set("scope", Scope("billing", "read_chart")) }, status: 400, code: "invalid_scope"},
		{name: "tool not allowed", edit: func(f url.Values) { f.Set("scope", Scope("ehr", "write_summary")) }, status: 400, code: "unauthorized_client"},
		{name: "policy unavailable", setup: func() { env.policy.setUnavailable(true) }, status: 503, code: "temporarily_unavailable"},
		{name: "user revoked", setup: func() { _ = env.revoked.Revoke("dr-alice", "", time.Now()) }, status: 400, code: "invalid_grant"},
		{name: "agent revoked", setup: func() { _ = env.revoked.Revoke("", "note-summarizer", time.Now()) }, status: 400, code: "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Subtests share env and run in order: each setup is undone.
			env.policy.setUnavailable(false)
			env.revoked = resetRevocations(env.revoked)
			if tc.setup != nil {
				tc.setup()
			}
			f := env.form()
			if tc.edit != nil {
				tc.edit(f)
			}
			ct := cmp.Or(tc.contentType, form)
			status, hdr, body, raw := post(t, env.url+tc.path, f, ct)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, raw)
			}
			if hdr.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", hdr.Get("Cache-Control"))
			}
			for _, v := range f["subject_token"] {
				if len(v) > 16 && strings.Contains(raw, v[len(v)-16:]) {
					t.Fatal("the response echoes the subject token")
				}
			}
			if tc.status != 200 {
				if body["error"] != tc.code {
					t.Errorf("error %v, want %s: %s", body["error"], tc.code, raw)
				}
				if _, ok := body["access_token"]; ok {
					t.Error("an error response carries an access token")
				}
				return
			}
			checkIssued(t, env, body, f.Get("requested_token_type"))
		})
	}
}

// resetRevocations empties the list in place (the minter holds it).
func resetRevocations(r *Revocations) *Revocations {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.entries)
	return r
}

func (a *allowList) setUnavailable(v bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unavailable = v
}

// checkIssued verifies an issued token the way the upstream would.
func checkIssued(t *testing.T, env *exchangeEnv, body map[string]any, requested string) {
	t.Helper()
	wantType := cmp.Or(requested, TokenTypeAccessToken)
	if body["issued_token_type"] != wantType || body["token_type"] != "Bearer" || body["scope"] != Scope("ehr", "read_chart") {
		t.Errorf("response %v", body)
	}
	if exp, _ := body["expires_in"].(float64); exp < 290 || exp > 300 {
		t.Errorf("expires_in %v, want about 300", body["expires_in"])
	}
	raw, _ := body["access_token"].(string)
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testResource, Keys: env.ring})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), raw, Scope("ehr", "read_chart"))
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if c.Subject != "dr-alice" || c.ClientID != "note-summarizer" || c.Tenant != "st-marys" ||
		len(c.Actors) == 0 || c.Actors[0].Subject != "note-summarizer" {
		t.Errorf("issued claims %+v", c)
	}
}

func TestExchangeHandler_Method(t *testing.T) {
	t.Parallel()
	env := newExchangeEnv(t)
	resp, err := http.Get(env.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	big := env.form()
	big.Set("padding", strings.Repeat("x", maxFormBytes))
	if status, _, body, _ := post(t, env.url, big, "application/x-www-form-urlencoded"); status != http.StatusRequestEntityTooLarge || body["error"] != "invalid_request" {
		t.Errorf("oversized body: %d %v", status, body)
	}
}

func TestParseExchange_RequestedTokenType(t *testing.T) {
	t.Parallel()
	f := url.Values{
		"grant_type": {GrantTypeTokenExchange}, "subject_token": {"t"}, "subject_token_type": {TokenTypeJWT},
		"audience": {"ehr"}, "scope": {Scope("ehr", "x")}, "requested_token_type": {TokenTypeJWT},
	}
	req, oerr := parseExchange(f)
	if oerr != nil || req.issuedType != TokenTypeJWT || req.server != "ehr" || req.tool != "x" {
		t.Errorf("%+v %v", req, oerr)
	}
}

func TestNewExchangeHandler_Config(t *testing.T) {
	t.Parallel()
	if _, err := NewExchangeHandler(ExchangeConfig{}); err == nil {
		t.Error("empty config accepted")
	}
}
