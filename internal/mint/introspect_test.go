package mint

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

const introspectionSecret = "Bearer rs-credential"

func newIntrospectionServer(t *testing.T, ring *KeyRing, rl RevocationList, clk *testClock) string {
	t.Helper()
	h, err := NewIntrospectionHandler(IntrospectionConfig{
		Issuer: testIssuer, Keys: ring, Revocations: rl, Clock: clk.Now, Logger: quietLogger(),
		Authenticate: func(r *http.Request) error {
			if r.Header.Get("Authorization") != introspectionSecret {
				return errors.New("unknown caller")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func introspect(t *testing.T, u, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", introspectionSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	var body map[string]any
	if err := jsonDecode(resp, &body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestIntrospectionHandler(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	rl := NewRevocations()
	m := newTestMinter(t, ring, clk, rl)
	u := newIntrospectionServer(t, ring, rl, clk)

	// Minted by a replica whose clock runs 20 s ahead: still active here.
	ahead := &testClock{t: clk.Now().Add(20 * time.Second)}
	if _, body := introspect(t, u, mustMint(t, newTestMinter(t, ring, ahead, nil), testGrant()).Raw); body["active"] != true {
		t.Errorf("token from a replica 20 s ahead: %v", body)
	}
	tok := mustMint(t, m, testGrant())
	status, body := introspect(t, u, tok.Raw)
	if status != 200 || body["active"] != true {
		t.Fatalf("fresh token: %d %v", status, body)
	}
	want := map[string]any{
		"sub": "dr-alice", "client_id": "note-summarizer", "aud": testResource, "iss": testIssuer,
		"scope": Scope("ehr", "read_chart"), "jti": tok.ID, "token_type": "Bearer",
		"exp": float64(tok.ExpiresAt.Unix()), "tenant": "st-marys", "decision_id": "dec-123",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
	if act, _ := body["act"].(map[string]any); act["sub"] != "note-summarizer" {
		t.Errorf("act = %v", body["act"])
	}

	inactive := func(name, raw string) {
		t.Helper()
		status, body := introspect(t, u, raw)
		if status != 200 || body["active"] != false || len(body) != 1 {
			t.Errorf("%s: %d %v, want exactly {active:false}", name, status, body)
		}
	}
	inactive("garbage", "abc")
	inactive("tampered", tok.Raw[:len(tok.Raw)-4]+"AAAA")
	other := newTestRing(t, t.TempDir(), clk, nil)
	inactive("signed by another ring", mustMint(t, newTestMinter(t, other, clk, nil), testGrant()).Raw)
	foreign, err := NewMinter(MinterConfig{Issuer: "https://other.example.test", Keys: ring, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	inactive("other issuer, our key", mustMint(t, foreign, testGrant()).Raw)

	// Revocation: the user, then lifted — the old token stays dead, a new
	// one minted after the lift is active.
	clk.Advance(time.Second)
	if err := rl.Revoke("dr-alice", "", clk.Now()); err != nil {
		t.Fatal(err)
	}
	inactive("user revoked", tok.Raw)
	rl.Lift("dr-alice", "")
	inactive("issued before a lifted revocation", tok.Raw)
	clk.Advance(time.Second)
	after := mustMint(t, m, testGrant())
	if _, body := introspect(t, u, after.Raw); body["active"] != true {
		t.Errorf("token minted after the lift: %v", body)
	}
	// An inner agent of the chain.
	clk.Advance(time.Second)
	_ = rl.Revoke("", "orchestrator", clk.Now())
	inactive("inner agent revoked", after.Raw)
	rl.Lift("", "orchestrator")
	clk.Advance(time.Second)
	g := testGrant()
	g.Actors = []principal.Actor{{Subject: "note-summarizer"}}
	direct := mustMint(t, m, g)
	if _, body := introspect(t, u, direct.Raw); body["active"] != true {
		t.Errorf("token of a chain without the revoked agent: %v", body)
	}
	// Expiry: no leeway at the issuer.
	clk.Advance(DefaultLifetime)
	inactive("expired", direct.Raw)
}

func TestIntrospectionHandler_Requests(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	u := newIntrospectionServer(t, ring, nil, clk)
	for _, tc := range []struct {
		name   string
		method string
		auth   string
		body   string
		status int
		code   string
	}{
		{"unauthenticated caller", "POST", "", "token=x", 401, "invalid_client"},
		{"wrong caller credential", "POST", "Bearer nope", "token=x", 401, "invalid_client"},
		{"no token", "POST", introspectionSecret, "", 400, "invalid_request"},
		{"repeated token", "POST", introspectionSecret, "token=a&token=b", 400, "invalid_request"},
		{"GET", "GET", introspectionSecret, "", 405, "invalid_request"},
	} {
		req, _ := http.NewRequest(tc.method, u, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = jsonDecode(resp, &body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || body["error"] != tc.code {
			t.Errorf("%s: %d %v (%v), want %d %s", tc.name, resp.StatusCode, body, err, tc.status, tc.code)
		}
	}
	if _, err := NewIntrospectionHandler(IntrospectionConfig{Issuer: testIssuer, Keys: ring}); err == nil {
		t.Error("an introspection endpoint without caller authentication was built")
	}
}

func TestRevocations(t *testing.T) {
	t.Parallel()
	r := NewRevocations()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := r.Revoke("", "", t0); err == nil {
		t.Error("a revocation of nobody was accepted")
	}
	_ = r.Revoke("alice", "", t0)
	_ = r.Revoke("", "bot", t0.Add(time.Minute))
	_ = r.Revoke("carol", "bot2", t0.Add(2*time.Minute))
	for _, tc := range []struct {
		user, agent string
		at          time.Time
		inForce     bool
	}{
		{"alice", "x", t0, true},
		{"bob", "bot", t0.Add(time.Minute), true},
		{"alice", "bot", t0.Add(time.Minute), true}, // the latest applies
		{"carol", "bot2", t0.Add(2 * time.Minute), true},
		{"dave", "bot2", time.Time{}, false}, // the pair only
		{"bob", "x", time.Time{}, false},
	} {
		at, inForce := r.RevokedAt(tc.user, tc.agent)
		if !at.Equal(tc.at) || inForce != tc.inForce {
			t.Errorf("RevokedAt(%s, %s) = %v %v, want %v %v", tc.user, tc.agent, at, inForce, tc.at, tc.inForce)
		}
	}
	r.Lift("alice", "")
	if at, inForce := r.RevokedAt("alice", "x"); inForce || !at.Equal(t0) {
		t.Errorf("lifted: %v %v, want the time kept and not in force", at, inForce)
	}
	// An earlier revocation does not move the time back.
	_ = r.Revoke("", "bot", t0)
	if at, _ := r.RevokedAt("bob", "bot"); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("re-revoking earlier moved the time to %v", at)
	}
	if n := r.Forget(t0.Add(time.Second)); n != 1 {
		t.Errorf("Forget dropped %d, want only alice's lifted entry", n)
	}
	if at, _ := r.RevokedAt("alice", "x"); !at.IsZero() {
		t.Error("forgotten entry still answers")
	}
}
