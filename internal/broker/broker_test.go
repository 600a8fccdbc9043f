package broker

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConnectFlow_EndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()

	// Not connected yet: a typed error carrying the link.
	_, err := e.b.Credential(ctx, "acme", "alice", "github-like")
	var nc *NotConnectedError
	if !errors.Is(err, ErrNotConnected) || !errors.As(err, &nc) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	if !strings.HasPrefix(nc.ConnectURL, e.gw.URL+"/connect/github-like?ticket=") || strings.Contains(err.Error(), "ticket") {
		t.Fatalf("connect URL %q, error %q", nc.ConnectURL, err)
	}

	// The browser follows the link: gateway → provider (PKCE) → approve → callback.
	browser := newBrowser(t)
	hops := follow(t, browser, nc.ConnectURL)
	first, _ := url.Parse(hops[0].loc)
	q := first.Query()
	if !strings.HasPrefix(hops[0].loc, e.idp.AppEndpoints().Authorize) || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("login_hint") != "alice" || q.Get("state") == "" || q.Has("code_verifier") {
		t.Fatalf("redirect to the provider: %s", hops[0].loc)
	}
	last := hops[len(hops)-1]
	callback := hops[len(hops)-2].loc
	if len(hops) != 5 || last.status != http.StatusOK || !strings.HasPrefix(callback, e.gw.URL+"/connect/callback?code=") {
		for _, h := range hops {
			t.Logf("%d %s → %s", h.status, h.url, h.loc)
		}
		t.Fatalf("flow ended %d: %s", last.status, last.body)
	}
	cbq, _ := url.Parse(callback)
	for _, secret := range []string{cbq.Query().Get("code"), q.Get("state"), strings.SplitN(nc.ConnectURL, "ticket=", 2)[1]} {
		if strings.Contains(last.body, secret) {
			t.Error("success page echoes the code, state or ticket")
		}
	}

	// Connected: the credential works at the upstream API.
	cred, err := e.b.Credential(ctx, "acme", "alice", "github-like")
	if err != nil {
		t.Fatal(err)
	}
	if cred.HeaderName != "Authorization" || cred.HeaderValue != "Bearer "+cred.Token || time.Until(cred.ExpiresAt) < 5*time.Minute {
		t.Errorf("credential = %v", cred)
	}
	if status, body := e.apiUser(t, cred); status != http.StatusOK || !strings.Contains(body, `"login":"alice"`) {
		t.Errorf("/api/user with the injected token: %d %s", status, body)
	}
	if strings.Contains(last.body, cred.Token) {
		t.Error("success page contains the token")
	}

	// At rest: encrypted, and Secrets knows both tokens.
	rec, err := e.store.Load(ctx, Key{"acme", "alice", "github-like"})
	if err != nil || rec.RefreshToken == "" || rec.AccessToken != cred.Token {
		t.Fatalf("stored record: %v %v", rec, err)
	}
	for name, content := range storeFiles(t, e.dir) {
		if bytes.Contains(content, []byte(rec.AccessToken)) || bytes.Contains(content, []byte(rec.RefreshToken)) ||
			strings.Contains(name, "alice") {
			t.Errorf("record file %s holds a token or the user id in clear", name)
		}
	}
	secrets, err := e.b.Secrets(ctx, "acme", "alice")
	if err != nil || len(secrets) != 2 || !slices.Contains(secrets, rec.AccessToken) || !slices.Contains(secrets, rec.RefreshToken) {
		t.Errorf("Secrets = %d values, %v", len(secrets), err)
	}
	if conns, err := e.b.Connections(ctx, "acme", "alice"); err != nil || len(conns) != 1 || conns[0].Provider != "github-like" || !conns[0].Refreshable {
		t.Errorf("Connections = %+v, %v", conns, err)
	}

	// Replays: the callback (state is single use) and the link (one connection per ticket).
	if h := get(t, browser, callback); h.status != http.StatusBadRequest || strings.Contains(h.body, cbq.Query().Get("code")) {
		t.Errorf("replayed callback: %d %s", h.status, h.body)
	}
	if h := get(t, newBrowser(t), nc.ConnectURL); h.status != http.StatusForbidden {
		t.Errorf("reused connect link: %d", h.status)
	}
	// Bob is still not connected.
	if _, err := e.b.Credential(ctx, "acme", "bob", "github-like"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("bob: err = %v", err)
	}
	assertNoSecretsIn(t, e.logs.String(), rec.AccessToken, rec.RefreshToken, cbq.Query().Get("code"))
}

func TestConnect_Refusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{extra: func(e *env) []Provider {
		return []Provider{e.devProvider("other", "other-app", []string{"read:user"})}
	}})
	ctx := context.Background()
	link, err := e.b.ConnectURL("acme", "alice", "github-like")
	if err != nil {
		t.Fatal(err)
	}
	ticket := strings.SplitN(link, "ticket=", 2)[1]
	tampered := []byte(ticket)
	tampered[5] ^= 1 // in the payload: e.g. another user
	cases := []struct {
		name   string
		url    string
		status int
	}{
		{"tampered ticket", e.gw.URL + "/connect/github-like?ticket=" + string(tampered), http.StatusForbidden},
		{"ticket for another provider", e.gw.URL + "/connect/other?ticket=" + ticket, http.StatusForbidden},
		{"no ticket", e.gw.URL + "/connect/github-like", http.StatusForbidden},
		{"unknown provider", e.gw.URL + "/connect/nope?ticket=" + ticket, http.StatusNotFound},
		{"unknown state", e.gw.URL + "/connect/callback?code=abc&state=forged", http.StatusBadRequest},
		{"no state", e.gw.URL + "/connect/callback?code=abc", http.StatusBadRequest},
	}
	for _, tc := range cases {
		h := get(t, newBrowser(t), tc.url)
		if h.status != tc.status || strings.Contains(h.body, ticket) || strings.Contains(h.body, "abc") {
			t.Errorf("%s: %d %s", tc.name, h.status, h.body)
		}
	}

	// A state presented by another browser (no cookie) is refused, and burnt.
	start := get(t, newBrowser(t), link)
	authz := follow(t, newBrowser(t), start.loc) // the provider's hops need no cookie
	callback := authz[len(authz)-1].url
	if h := authz[len(authz)-1]; h.status != http.StatusBadRequest || !strings.Contains(h.body, "Wrong browser") {
		t.Errorf("callback from another browser: %d %s", h.status, h.body)
	}
	if h := get(t, newBrowser(t), callback); h.status != http.StatusBadRequest {
		t.Errorf("state after a refused callback: %d", h.status)
	}

	// A tampered state in the right browser is refused; the genuine one
	// still completes afterwards.
	browser := newBrowser(t)
	fresh, _ := e.b.ConnectURL("acme", "bob", "github-like")
	hops := follow(t, browser, fresh)
	if last := hops[len(hops)-1]; last.status != http.StatusOK {
		t.Fatalf("control flow: %d %s", last.status, last.body)
	}
	browser = newBrowser(t)
	fresh, _ = e.b.ConnectURL("acme", "alice", "github-like")
	start = get(t, browser, fresh)
	providerHops := followUntil(t, browser, start.loc, e.gw.URL+"/connect/callback")
	cb, _ := url.Parse(providerHops)
	cq := cb.Query()
	st := []byte(cq.Get("state"))
	st[3] ^= 1
	cq.Set("state", string(st))
	cb.RawQuery = cq.Encode()
	if h := get(t, browser, cb.String()); h.status != http.StatusBadRequest {
		t.Errorf("tampered state: %d", h.status)
	}
	if h := get(t, browser, providerHops); h.status != http.StatusOK {
		t.Errorf("genuine state after a tampered one: %d %s", h.status, h.body)
	}

	// The provider refuses (no such dev user): nothing stored.
	mallory, _ := e.b.ConnectURL("acme", "mallory", "github-like")
	hops = follow(t, newBrowser(t), mallory)
	if last := hops[len(hops)-1]; last.status != http.StatusForbidden || !strings.Contains(last.body, "login_required") {
		t.Errorf("provider refusal: %d %s", last.status, last.body)
	}
	if _, err := e.store.Load(ctx, Key{"acme", "mallory", "github-like"}); !errors.Is(err, ErrNoRecord) {
		t.Errorf("refused connection stored something: %v", err)
	}

	// An expired link.
	old, _ := e.b.ConnectURL("acme", "bob", "github-like")
	e.clock.Advance(16 * time.Minute)
	if h := get(t, newBrowser(t), old); h.status != http.StatusForbidden {
		t.Errorf("expired link: %d", h.status)
	}
}

// TestConnect_ExpiredState: the provider took longer than StateTTL.
func TestConnect_ExpiredState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	link, _ := e.b.ConnectURL("acme", "alice", "github-like")
	browser := newBrowser(t)
	start := get(t, browser, link)
	e.clock.Advance(11 * time.Minute)
	hops := follow(t, browser, start.loc)
	if last := hops[len(hops)-1]; last.status != http.StatusBadRequest {
		t.Errorf("expired state: %d %s", last.status, last.body)
	}
}

func TestCredential_RefreshOnExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.connect(t, "alice", "github-like")
	first, err := e.b.Credential(ctx, "acme", "alice", "github-like")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.refresh.Load(); n != 0 {
		t.Fatalf("fresh token refreshed %d times", n)
	}
	before, _ := e.store.Load(ctx, Key{"acme", "alice", "github-like"})

	e.clock.Advance(9*time.Minute + 30*time.Second) // within the 1m skew of the 10m token
	second, err := e.b.Credential(ctx, "acme", "alice", "github-like")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.refresh.Load(); n != 1 || second.Token == first.Token || !second.ExpiresAt.After(first.ExpiresAt) {
		t.Fatalf("refreshes %d, token changed %v, expiry %v → %v", n, second.Token != first.Token, first.ExpiresAt, second.ExpiresAt)
	}
	if status, body := e.apiUser(t, second); status != http.StatusOK || !strings.Contains(body, `"login":"alice"`) {
		t.Errorf("refreshed token at the API: %d %s", status, body)
	}
	after, err := e.store.Load(ctx, Key{"acme", "alice", "github-like"})
	if err != nil || after.AccessToken != second.Token || after.RefreshToken == before.RefreshToken || after.RefreshedAt.IsZero() ||
		!after.ConnectedAt.Equal(before.ConnectedAt) {
		t.Errorf("stored after refresh: %v %v", after, err)
	}
	if third, err := e.b.Credential(ctx, "acme", "alice", "github-like"); err != nil || third.Token != second.Token || e.refresh.Load() != 1 {
		t.Errorf("refreshed again: %v, %d refreshes", err, e.refresh.Load())
	}
	assertNoSecretsIn(t, e.logs.String(), first.Token, second.Token, before.RefreshToken, after.RefreshToken)
}

func TestCredential_ConcurrentCallsRefreshOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.connect(t, "alice", "github-like")
	e.clock.Advance(20 * time.Minute)
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	tokens := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := e.b.Credential(context.Background(), "acme", "alice", "github-like")
			tokens[i], errs[i] = c.Token, err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("call %d: %v (same token: %v)", i, errs[i], tokens[i] == tokens[0])
		}
	}
	if got := e.refresh.Load(); got != 1 {
		t.Errorf("%d concurrent calls sent %d refreshes, want 1", n, got)
	}
}

func TestCredential_InvalidGrantDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.connect(t, "alice", "github-like")
	k := Key{"acme", "alice", "github-like"}
	rec, _ := e.store.Load(ctx, k)
	e.revokeAtIdP(t, "github-like", rec.RefreshToken) // e.g. the user revoked the app at GitHub

	e.clock.Advance(20 * time.Minute)
	_, err := e.b.Credential(ctx, "acme", "alice", "github-like")
	var nc *NotConnectedError
	if !errors.As(err, &nc) || nc.ConnectURL == "" || !strings.Contains(err.Error(), "no longer accepts") {
		t.Fatalf("err = %v, want ErrNotConnected with a link", err)
	}
	if _, err := e.store.Load(ctx, k); !errors.Is(err, ErrNoRecord) {
		t.Errorf("record kept after invalid_grant: %v", err)
	}
}

// TestCredential_TransientRefreshFailure: a provider that cannot be
// reached does not disconnect the user; an unexpired token is served.
func TestCredential_TransientRefreshFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.connect(t, "alice", "github-like")
	first, _ := e.b.Credential(ctx, "acme", "alice", "github-like")
	e.idp.Stop()
	e.clock.Advance(9*time.Minute + 30*time.Second)
	if c, err := e.b.Credential(ctx, "acme", "alice", "github-like"); err != nil || c.Token != first.Token {
		t.Errorf("within skew, provider down: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.b.Credential(ctx, "acme", "alice", "github-like"); err == nil || errors.Is(err, ErrNotConnected) {
		t.Errorf("expired, provider down: err = %v, want a plain failure", err)
	}
	if _, err := e.store.Load(ctx, Key{"acme", "alice", "github-like"}); err != nil {
		t.Errorf("record lost over a transient failure: %v", err)
	}
}

func TestRevokeUser(t *testing.T) {
	t.Parallel()
	failing := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	e := newEnv(t, envOptions{extra: func(e *env) []Provider {
		flaky := e.devProvider("flaky", "other-app", []string{"read:user"})
		srv := httptest.NewServer(failing)
		t.Cleanup(srv.Close)
		flaky.RevocationURL = srv.URL + "/revoke"
		noRevoke := e.devProvider("norevoke", "other-app", []string{"read:user"})
		noRevoke.RevocationURL = ""
		return []Provider{flaky, noRevoke}
	}})
	ctx := context.Background()
	for _, p := range []string{"github-like", "flaky", "norevoke"} {
		e.connect(t, "alice", p)
	}
	e.connect(t, "bob", "github-like")
	alice, _ := e.b.Credential(ctx, "acme", "alice", "github-like")
	aliceRec, _ := e.store.Load(ctx, Key{"acme", "alice", "github-like"})
	staleLink, _ := e.b.ConnectURL("acme", "alice", "github-like")

	results, err := e.b.RevokeUser(ctx, "acme", "alice")
	byName := map[string]ProviderRevocation{}
	for _, r := range results {
		byName[r.Provider] = r
	}
	if len(results) != 3 || byName["github-like"].Err != nil || byName["flaky"].Err == nil || !byName["norevoke"].Skipped {
		t.Fatalf("results = %+v", results)
	}
	if err == nil || !strings.Contains(err.Error(), "flaky") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("err = %v, want the flaky provider's failure", err)
	}
	assertNoSecretsIn(t, err.Error(), alice.Token, aliceRec.RefreshToken)

	// The provider refuses alice's tokens now; the broker holds nothing of hers.
	if status, _ := e.apiUser(t, alice); status != http.StatusUnauthorized {
		t.Errorf("revoked token at the API: %d", status)
	}
	for _, p := range []string{"github-like", "flaky", "norevoke"} {
		if _, err := e.b.Credential(ctx, "acme", "alice", p); !errors.Is(err, ErrNotConnected) {
			t.Errorf("%s after revoke: %v", p, err)
		}
	}
	if files := storeFiles(t, e.dir); len(files) != 1 {
		t.Errorf("%d record files left, want bob's 1", len(files))
	}
	if s, _ := e.b.Secrets(ctx, "acme", "alice"); len(s) != 0 {
		t.Errorf("Secrets after revoke: %d", len(s))
	}
	// A link issued before the revocation no longer connects.
	if h := get(t, newBrowser(t), staleLink); h.status != http.StatusForbidden {
		t.Errorf("pre-revocation link: %d", h.status)
	}
	// Bob is untouched.
	bob, err := e.b.Credential(ctx, "acme", "bob", "github-like")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.apiUser(t, bob); status != http.StatusOK || !strings.Contains(body, `"login":"bob"`) {
		t.Errorf("bob after alice's revocation: %d %s", status, body)
	}
}

// TestBroker_KeyRotation: records written under k1 are served after the
// ring becomes k2,k1 and Rewrap, and after k1 is dropped.
func TestBroker_KeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.connect(t, "alice", "github-like")
	want, _ := e.store.Load(ctx, Key{"acme", "alice", "github-like"})
	oldRing := e.store.ring
	k2 := newKey(t)
	ring := mustRing(t, "k2:"+k2)
	ring.aeads["k1"], ring.order = oldRing.aeads["k1"], append(ring.order, "k1") // k2 current, k1 kept
	rotated, err := NewFileStore(e.dir, ring)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := New(Options{Store: rotated, PublicURL: e.gw.URL})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := rb.Rewrap(ctx); err != nil || rep.Rewrapped != 1 {
		t.Fatalf("Rewrap = %+v, %v", rep, err)
	}
	onlyK2, _ := NewFileStore(e.dir, mustRing(t, "k2:"+k2))
	b, err := New(Options{Store: onlyK2, Providers: []Provider{e.devProvider("github-like", "github-like", nil)}, PublicURL: e.gw.URL, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := b.Credential(ctx, "acme", "alice", "github-like")
	if err != nil || cred.Token != want.AccessToken {
		t.Fatalf("after rotation: %v", err)
	}
	// With the old broker's ring (k1 only) the record no longer opens: a clear error, not "not connected".
	if _, err := e.b.Credential(ctx, "acme", "alice", "github-like"); !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrNotConnected) {
		t.Errorf("k1-only ring after rewrap: err = %v", err)
	}
}

func TestCredential_Refusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.b.Credential(ctx, "acme", "alice", "gitlab"); !errors.Is(err, ErrUnknownProvider) || !strings.Contains(err.Error(), "github-like") {
		t.Errorf("unknown provider: %v", err)
	}
	if _, err := e.b.Credential(ctx, "", "alice", "github-like"); err == nil || errors.Is(err, ErrNotConnected) {
		t.Errorf("empty tenant: %v", err)
	}
	if _, err := e.b.ConnectURL("acme", "alice", "gitlab"); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("ConnectURL unknown provider: %v", err)
	}
	noURL, err := New(Options{Store: e.store, Providers: []Provider{e.devProvider("github-like", "github-like", nil)}})
	if err == nil {
		t.Fatalf("provider without a redirect URL accepted (no PublicURL): %v", noURL)
	}
	p := e.devProvider("github-like", "github-like", nil)
	p.RedirectURL = e.gw.URL + "/connect/callback"
	noURL, err = New(Options{Store: e.store, Providers: []Provider{p}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = noURL.Credential(ctx, "acme", "alice", "github-like")
	var nc *NotConnectedError
	if !errors.As(err, &nc) || nc.ConnectURL != "" {
		t.Errorf("no PublicURL: %v", err)
	}
}

func TestNew_Refusals(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t, "k1:"+newKey(t))
	good := validProvider()
	for name, o := range map[string]Options{
		"no store":        {Providers: []Provider{good}, PublicURL: "https://gw.example.com"},
		"http public URL": {Store: store, PublicURL: "http://gw.example.com"},
		"short key":       {Store: store, TicketKey: []byte("short")},
		"bad path":        {Store: store, ConnectPath: "connect/"},
		"duplicate":       {Store: store, Providers: []Provider{good, good}, PublicURL: "https://gw.example.com"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func assertNoSecretsIn(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("a secret (%d bytes) appears in logs or errors", len(s))
		}
	}
}
