package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testIssuer is a minimal but real OIDC issuer: discovery and JWKS over
// HTTP on loopback, with keys the test controls, so claim shapes no real
// IdP would mint (and forged headers) can be signed.
type testIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []jose.JSONWebKey // private keys; the JWKS serves their public halves
	jwksHits  atomic.Int64
	jwksBroke atomic.Bool
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// sharedRSAKey is generated once per test binary (RSA generation is slow
// on a busy 2-core machine).
func sharedRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	ti.keys = []jose.JSONWebKey{{Key: sharedRSAKey(t), KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/jwks",
			"authorization_endpoint": ti.srv.URL + "/authorize", "token_endpoint": ti.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		ti.jwksHits.Add(1)
		if ti.jwksBroke.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ti.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range ti.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		ti.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) URL() string { return ti.srv.URL }

// addECKey publishes a new ES256 key and returns its id.
func (ti *testIssuer) addECKey(t testing.TB, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti.mu.Lock()
	ti.keys = append(ti.keys, jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	ti.mu.Unlock()
}

func (ti *testIssuer) key(kid string) jose.JSONWebKey {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	for _, k := range ti.keys {
		if k.KeyID == kid {
			return k
		}
	}
	panic("no key " + kid)
}

// claims returns a valid delegated token's claims, to be edited by a case.
func (ti *testIssuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": ti.URL(), "sub": "dr-alice", "aud": []string{"actiongate"},
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(), "jti": "tok-1",
		"client_id": "note-summarizer", "act": map[string]any{"sub": "note-summarizer"},
		"tenant": "st-marys", "groups": []string{"physicians"},
	}
}

// sign makes a compact JWS over claims with key kid; extra header fields
// (typ, crit, …) go in hdr.
func (ti *testIssuer) sign(t testing.TB, kid string, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	k := ti.key(kid)
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for name, v := range hdr {
		opts = opts.WithHeader(name, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// newVerifier builds a Verifier for the given issuers with test defaults.
func newVerifier(t testing.TB, edit func(*Config), issuers ...string) *Verifier {
	t.Helper()
	cfg := Config{Audiences: []string{"actiongate"}, DiscoveryTimeout: 5 * time.Second}
	for _, u := range issuers {
		cfg.Issuers = append(cfg.Issuers, IssuerConfig{URL: u})
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// tamperSignature flips one byte of the decoded signature.
func tamperSignature(t testing.TB, raw string) string {
	t.Helper()
	i := len(raw) - 1
	for raw[i] != '.' {
		i--
	}
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	return raw[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

func payloadJSON(t testing.TB, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func payloadSegment(t testing.TB, claims map[string]any) string {
	return base64.RawURLEncoding.EncodeToString([]byte(payloadJSON(t, claims)))
}
