package broker

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devidp"
)

// env is a gateway (the broker's handlers on a real loopback server), the
// dev IdP playing GitHub, and the broker between them.
type env struct {
	idp     *devidp.IdP
	gw      *httptest.Server
	b       *Broker
	store   *FileStore
	dir     string
	clock   *testClock
	refresh atomic.Int32 // refresh_token grants sent
	logs    *syncBuffer
}

type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// countingTransport counts refresh_token grants on their way to the IdP.
type countingTransport struct{ n *atomic.Int32 }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		if form, _ := url.ParseQuery(string(body)); form.Get("grant_type") == "refresh_token" {
			c.n.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(r)
}

type envOptions struct {
	// extra providers beyond "github-like" (the dev IdP app of that name).
	extra func(e *env) []Provider
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{clock: &testClock{}, logs: &syncBuffer{}, dir: t.TempDir() + "/records"}
	var handler atomic.Pointer[http.Handler]
	e.gw = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(e.gw.Close)
	callback := e.gw.URL + "/connect/callback"
	idp, err := devidp.Start(context.Background(), devidp.Options{
		Users: []devidp.User{{Subject: "alice", Tenant: "acme"}, {Subject: "bob", Tenant: "acme"}},
		Apps: []devidp.App{
			{ClientID: "github-like", RedirectURIs: []string{callback}, Scopes: []string{"repo", "read:user"}},
			{ClientID: "other-app", RedirectURIs: []string{callback}, Scopes: []string{"read:user"}},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		idp.Stop()
	})
	e.idp = idp
	if e.store, err = NewFileStore(e.dir, mustRing(t, "k1:"+newKey(t))); err != nil {
		t.Fatal(err)
	}
	providers := []Provider{e.devProvider("github-like", "github-like", []string{"repo", "read:user"})}
	if o.extra != nil {
		providers = append(providers, o.extra(e)...)
	}
	e.b, err = New(Options{
		Store: e.store, Providers: providers, PublicURL: e.gw.URL, TicketKey: []byte("test ticket key, 32 bytes long.."),
		HTTPClient: &http.Client{Transport: countingTransport{&e.refresh}, Timeout: 10 * time.Second},
		Now:        e.clock.Now, Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := e.b.Handler()
	handler.Store(&h)
	return e
}

// devProvider is a provider backed by the dev IdP's app clientID.
func (e *env) devProvider(name, clientID string, scopes []string) Provider {
	ep := e.idp.AppEndpoints()
	return Provider{
		Name: name, AuthURL: ep.Authorize, TokenURL: ep.Token, RevocationURL: ep.Revoke,
		ClientID: clientID, ClientSecret: devidp.DevSecret(clientID), Scopes: scopes, LoginHintParam: "login_hint",
	}
}

// browser is a user agent with cookies that stops at every redirect so
// the test can look at each hop.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type hop struct {
	url    string
	status int
	loc    string
	body   string
}

func get(t *testing.T, c *http.Client, u string) hop {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return hop{url: u, status: resp.StatusCode, loc: resp.Header.Get("Location"), body: string(body)}
}

// follow walks redirects from start and returns every hop; the last one
// is not a redirect.
func follow(t *testing.T, c *http.Client, start string) []hop {
	t.Helper()
	var hops []hop
	next := start
	for range 10 {
		h := get(t, c, next)
		hops = append(hops, h)
		if h.status != http.StatusFound {
			return hops
		}
		u, err := url.Parse(h.url)
		if err != nil {
			t.Fatal(err)
		}
		loc, err := u.Parse(h.loc)
		if err != nil {
			t.Fatal(err)
		}
		next = loc.String()
	}
	t.Fatal("too many redirects")
	return nil
}

// followUntil walks redirects from start until one points at prefix, and
// returns that URL without requesting it.
func followUntil(t *testing.T, c *http.Client, start, prefix string) string {
	t.Helper()
	next := start
	for range 10 {
		if strings.HasPrefix(next, prefix) {
			return next
		}
		h := get(t, c, next)
		if h.status != http.StatusFound {
			t.Fatalf("GET %s: %d %s", next, h.status, h.body)
		}
		u, _ := url.Parse(h.url)
		loc, err := u.Parse(h.loc)
		if err != nil {
			t.Fatal(err)
		}
		next = loc.String()
	}
	t.Fatal("too many redirects")
	return ""
}

// connect runs the whole flow for user in a fresh browser and returns the hops.
func (e *env) connect(t *testing.T, user, provider string) []hop {
	t.Helper()
	link, err := e.b.ConnectURL("acme", user, provider)
	if err != nil {
		t.Fatal(err)
	}
	hops := follow(t, newBrowser(t), link)
	if last := hops[len(hops)-1]; last.status != http.StatusOK || !strings.Contains(last.body, "connected") {
		t.Fatalf("connect %s/%s ended %d: %s", user, provider, last.status, last.body)
	}
	return hops
}

// apiUser calls the upstream API the way a tool server would, with the
// injected credential.
func (e *env) apiUser(t *testing.T, c Credential) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.idp.AppEndpoints().APIUser, nil)
	req.Header.Set(c.HeaderName, c.HeaderValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (e *env) revokeAtIdP(t *testing.T, clientID, token string) {
	t.Helper()
	form := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}
	req, _ := http.NewRequest(http.MethodPost, e.idp.AppEndpoints().Revoke, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, devidp.DevSecret(clientID))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke at IdP: %s", resp.Status)
	}
}
