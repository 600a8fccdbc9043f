package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/principal"
)

// These tests run the real dev IdP (zitadel's OP) on loopback: discovery,
// JWKS and the delegated-token flow all go over HTTP.

func startDevIdP(t *testing.T) *devidp.IdP {
	t.Helper()
	idp, err := devidp.Start(context.Background(), devidp.Options{
		Users: []devidp.User{
			{Subject: "dr-alice", Tenant: "st-marys", Groups: []string{"physicians"}},
			{Subject: "trader-bob", Tenant: "northwind"},
		},
		Agents: []devidp.Agent{{ClientID: "note-summarizer"}, {ClientID: "trade-executor"}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Stop)
	return idp
}

func devToken(t *testing.T, idp *devidp.IdP, user, agent string) string {
	t.Helper()
	tok, err := devidp.Token(context.Background(), idp.Issuer, user, agent, "", "")
	if err != nil {
		t.Fatalf("devidp.Token: %v", err)
	}
	return tok
}

func TestVerify_DevIdPDelegatedToken(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	v := newVerifier(t, nil, idp.Issuer)
	p, err := v.Verify(context.Background(), devToken(t, idp, "dr-alice", "note-summarizer"))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Issuer != idp.Issuer || p.User != "dr-alice" || p.Agent != "note-summarizer" || p.Tenant != "st-marys" {
		t.Errorf("principal = %+v", p)
	}
	if !slices.Equal(p.Groups, []string{"physicians"}) || !slices.Equal(p.Chain, []principal.Actor{{Subject: "note-summarizer"}}) {
		t.Errorf("groups/chain = %v/%v", p.Groups, p.Chain)
	}
	if p.TokenID == "" || time.Until(p.ExpiresAt) < 5*time.Minute || time.Until(p.ExpiresAt) > 11*time.Minute {
		t.Errorf("jti/exp = %q/%v", p.TokenID, p.ExpiresAt)
	}
}

func TestVerify_DevIdPRefusals(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	other := startDevIdP(t) // a real OP whose issuer is not configured
	good := devToken(t, idp, "dr-alice", "note-summarizer")
	cases := []struct {
		name  string
		token string
		edit  func(*Config)
		want  error
	}{
		{"expired", good, func(c *Config) { c.Clock = func() time.Time { return time.Now().Add(11 * time.Minute) } }, ErrExpired},
		{"token for another resource", good, func(c *Config) { c.Audiences = []string{"billing-gateway"} }, ErrAudience},
		{"agent's own client-credentials token", clientCredentials(t, idp.Issuer, "note-summarizer"), nil, ErrAudience},
		{"unknown issuer", devToken(t, other, "dr-alice", "note-summarizer"), nil, ErrUnknownIssuer},
		{"tampered signature", tamperSignature(t, good), nil, ErrSignature},
		{"not a JWT", "opaque-token-value", nil, ErrMalformed},
		{"empty", "", nil, ErrMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, tc.edit, idp.Issuer)
			p, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if p.User != "" || p.Agent != "" {
				t.Errorf("a failed verification returned a principal: %+v", p)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Error("error text contains the token")
			}
		})
	}
}

// clientCredentials gets an agent's own token from the OP: a valid token
// of the right issuer that was not issued for the gateway.
func clientCredentials(t *testing.T, issuer, agent string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(agent, devidp.DevSecret(agent))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(resp, &body); err != nil || body.AccessToken == "" {
		t.Fatalf("client_credentials: %v (HTTP %d)", err, resp.StatusCode)
	}
	return body.AccessToken
}

func TestVerify_KeyRotationRefetchesJWKS(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	v := newVerifier(t, nil, idp.Issuer)
	ks := v.issuers[idp.Issuer].keys
	if _, err := v.Verify(context.Background(), devToken(t, idp, "dr-alice", "note-summarizer")); err != nil {
		t.Fatal(err)
	}
	fetchesBefore := ks.fetches.Load()
	if _, err := idp.RotateKey(); err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), devToken(t, idp, "trader-bob", "trade-executor"))
	if err != nil {
		t.Fatalf("token signed with the rotated-in key: %v", err)
	}
	if p.User != "trader-bob" || p.Tenant != "northwind" {
		t.Errorf("principal = %+v", p)
	}
	if got := ks.fetches.Load() - fetchesBefore; got != 1 {
		t.Errorf("JWKS fetched %d times for the unknown kid, want 1", got)
	}
}

func TestVerify_CacheHitAndExpiry(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	clock := &fakeClock{}
	v := newVerifier(t, func(c *Config) { c.Clock = clock.now }, idp.Issuer)
	tok := devToken(t, idp, "dr-alice", "note-summarizer")
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// Without issuers only the cache can answer: a success is a hit.
	issuers := v.issuers
	v.issuers = nil
	again, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("cache hit: %v", err)
	}
	if again.User != first.User || again.Agent != first.Agent || again.TokenID != first.TokenID ||
		!slices.Equal(again.Groups, first.Groups) || !slices.Equal(again.Chain, first.Chain) {
		t.Errorf("hit = %+v, want %+v", again, first)
	}
	again.Groups[0] = "mutated" // a caller's copy must not reach the cache
	if p, _ := v.Verify(context.Background(), tok); p.Groups[0] != "physicians" {
		t.Error("mutating a returned principal changed the cached one")
	}
	clock.advance(time.Until(first.ExpiresAt) + time.Second) // past exp: the entry must not serve
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownIssuer) {
		t.Fatalf("after exp the cache still answered (err = %v)", err)
	}
	v.issuers = issuers
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("within the leeway after exp: %v", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("a token within leeway past exp was cached (%d entries)", n)
	}
	clock.advance(v.cfg.Leeway)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Errorf("after exp + leeway: err = %v, want ErrExpired", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after expiry", n)
	}
}

func TestVerify_Invalidate(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	v := newVerifier(t, nil, idp.Issuer)
	alice, bob := devToken(t, idp, "dr-alice", "note-summarizer"), devToken(t, idp, "trader-bob", "trade-executor")
	for _, tok := range []string{alice, bob} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Invalidate(func(p principal.Principal) bool { return p.User == "dr-alice" }); n != 1 {
		t.Errorf("Invalidate removed %d entries, want 1", n)
	}
	v.issuers = nil // only cached tokens verify now
	if _, err := v.Verify(context.Background(), alice); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("invalidated token still served from cache (err = %v)", err)
	}
	if _, err := v.Verify(context.Background(), bob); err != nil {
		t.Errorf("other user's cached token: %v", err)
	}
}

func TestNew_DiscoveryFailures(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	cases := []struct {
		name, issuer, want string
		timeout            time.Duration
	}{
		{"nothing listening", "http://127.0.0.1:1", `issuer "http://127.0.0.1:1": discovery: gave up after`, 400 * time.Millisecond},
		// A mismatch is a configuration error: it must fail at once, not retry for a minute.
		{"issuer mismatch", ti.URL() + "/", "did not match the issuer URL returned by provider", time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := New(context.Background(), Config{
				Issuers: []IssuerConfig{{URL: tc.issuer}}, Audiences: []string{"actiongate"},
				DiscoveryTimeout: tc.timeout,
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if took := time.Since(start); took > min(tc.timeout, 5*time.Second)+2*time.Second {
				t.Errorf("New took %v with DiscoveryTimeout %v", took, tc.timeout)
			}
		})
	}
}

func TestNew_ConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no issuers", Config{Audiences: []string{"a"}}},
		{"no audience", Config{Issuers: []IssuerConfig{{URL: "https://idp.example"}}}},
		{"empty audience", Config{Issuers: []IssuerConfig{{URL: "https://idp.example"}}, Audiences: []string{""}}},
		{"symmetric alg", Config{Issuers: []IssuerConfig{{URL: "https://idp.example", Algorithms: []string{"HS256"}}}, Audiences: []string{"a"}}},
		{"alg none", Config{Issuers: []IssuerConfig{{URL: "https://idp.example", Algorithms: []string{"none"}}}, Audiences: []string{"a"}}},
		{"not a URL", Config{Issuers: []IssuerConfig{{URL: "idp.example"}}, Audiences: []string{"a"}}},
		{"duplicate issuer", Config{Issuers: []IssuerConfig{{URL: "https://idp.example"}, {URL: "https://idp.example"}}, Audiences: []string{"a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(context.Background(), tc.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestNew_RetriesUntilIssuerIsUp starts the verifier before the IdP: New
// keeps retrying discovery and succeeds once the IdP answers.
func TestNew_RetriesUntilIssuerIsUp(t *testing.T) {
	t.Parallel()
	addr, err := devenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + addr
	type result struct {
		v   *Verifier
		err error
	}
	done := make(chan result, 1)
	rt := &attemptTransport{failed: make(chan struct{})}
	go func() {
		v, err := New(context.Background(), Config{
			Issuers: []IssuerConfig{{URL: issuer}}, Audiences: []string{"actiongate"}, DiscoveryTimeout: 20 * time.Second,
			HTTPClient: &http.Client{Transport: rt, Timeout: 5 * time.Second},
		})
		done <- result{v, err}
	}()
	<-rt.failed // the first discovery attempt found nothing listening
	idp, err := devidp.Start(context.Background(), devidp.Options{
		Addr: addr, Users: []devidp.User{{Subject: "dr-alice"}}, Agents: []devidp.Agent{{ClientID: "note-summarizer"}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Stop)
	r := <-done
	if r.err != nil {
		t.Fatalf("New: %v", r.err)
	}
	if n := rt.attempts.Load(); n < 3 { // failed discovery, discovery, JWKS
		t.Errorf("%d HTTP requests, want a retry after the failure", n)
	}
	tok := devToken(t, idp, "dr-alice", "note-summarizer")
	if p, err := r.v.Verify(context.Background(), tok); err != nil || p.User != "dr-alice" {
		t.Errorf("Verify: %+v %v", p, err)
	}
}

// attemptTransport counts requests and signals the first failed one.
type attemptTransport struct {
	attempts atomic.Int64
	failed   chan struct{}
	once     sync.Once
}

func (a *attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	a.attempts.Add(1)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		a.once.Do(func() { close(a.failed) })
	}
	return resp, err
}
