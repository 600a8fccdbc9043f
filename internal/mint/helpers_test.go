package mint

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

const (
	testIssuer   = "https://gateway.example.test"
	testResource = "https://mcp.example.test/ehr"
)

// testClock is a settable clock shared by a ring, a minter and a verifier.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTestRing(t testing.TB, dir string, clk *testClock, edit func(*KeyRingOptions)) *KeyRing {
	t.Helper()
	opts := KeyRingOptions{PropagationDelay: 2 * time.Second, Clock: clk.Now, Logger: quietLogger()}
	if edit != nil {
		edit(&opts)
	}
	r, err := LoadKeyRing(dir, opts)
	if err != nil {
		t.Fatalf("LoadKeyRing: %v", err)
	}
	return r
}

func newTestMinter(t testing.TB, ring *KeyRing, clk *testClock, rl RevocationList) *Minter {
	t.Helper()
	m, err := NewMinter(MinterConfig{Issuer: testIssuer, Keys: ring, Revocations: rl, Clock: clk.Now})
	if err != nil {
		t.Fatalf("NewMinter: %v", err)
	}
	return m
}

func testGrant() Grant {
	return Grant{
		Subject: "dr-alice",
		Actors: []principal.Actor{
			{Subject: "note-summarizer", Issuer: "https://idp.example.test"},
			{Subject: "orchestrator"},
		},
		Audience: testResource, Server: "ehr", Tool: "read_chart",
		Tenant: "st-marys", Task: "task-7", DecisionID: "dec-123",
	}
}

func mustMint(t testing.TB, m *Minter, g Grant) Token {
	t.Helper()
	tok, err := m.Mint(g)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// jwksServer serves ring's JWKS on loopback and counts requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	down atomic.Bool
}

func newJWKSServer(t testing.TB, ring *KeyRing) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	h := ring.JWKSHandler()
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func newRemoteVerifier(t testing.TB, url string, clk *testClock, edit func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := VerifierConfig{
		Issuer: testIssuer, Audience: testResource, JWKSURL: url, Clock: clk.Now, Logger: quietLogger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// decodePart decodes segment i (0 header, 1 claims) of a compact JWS.
func decodePart(t testing.TB, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// signRaw builds an ES256 compact JWS over arbitrary header and claims,
// for tokens the minter would never produce.
func signRaw(t testing.TB, priv *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// validClaims are the claims of a good token at clk's now.
func validClaims(clk *testClock) map[string]any {
	now := clk.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "sub": "dr-alice", "aud": testResource, "exp": now + 300, "nbf": now, "iat": now,
		"jti": "j1", "scope": Scope("ehr", "read_chart"), "client_id": "note-summarizer",
		"act": map[string]any{"sub": "note-summarizer"},
	}
}

func signingKeyOf(t testing.TB, ring *KeyRing, now time.Time) *ringKey {
	t.Helper()
	k, err := ring.signer(now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
