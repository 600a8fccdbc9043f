package signals

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	testIssuer   = "https://idp.test"
	testAudience = "https://gateway.test/ssf"
	testBearer   = "push-secret-0123456789"
)

// transmitter is a real SSF transmitter as far as the receiver can tell:
// it serves its JWKS over HTTP on loopback and signs SETs with keys the
// test controls (so it can also sign SETs no real IdP would send).
type transmitter struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []jose.JSONWebKey // private; the JWKS serves their public halves
	jwksHits atomic.Int64
	down     atomic.Bool
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// sharedRSAKey is generated once per test binary (RSA generation is slow
// on a busy 2-core machine).
func sharedRSAKey() *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func newTransmitter(t testing.TB) *transmitter {
	t.Helper()
	tx := &transmitter{}
	tx.keys = []jose.JSONWebKey{{Key: sharedRSAKey(), KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"}}
	tx.addECKey(t, "ec-1")
	tx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tx.jwksHits.Add(1)
		if tx.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		tx.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range tx.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		tx.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(tx.srv.Close)
	return tx
}

func (tx *transmitter) jwksURL() string { return tx.srv.URL + "/jwks" }

func (tx *transmitter) addECKey(t testing.TB, kid string) {
	t.Helper()
	k := newECKey(t, kid)
	tx.mu.Lock()
	tx.keys = append(tx.keys, k)
	tx.mu.Unlock()
}

func newECKey(t testing.TB, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "ES256", Use: "sig"}
}

func (tx *transmitter) key(kid string) jose.JSONWebKey {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	for _, k := range tx.keys {
		if k.KeyID == kid {
			return k
		}
	}
	panic("no key " + kid)
}

func newJTI() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "set-" + hex.EncodeToString(b[:])
}

// claims is a valid CAEP session-revoked SET about alice, to be edited.
func (tx *transmitter) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "iat": now.Unix(), "jti": newJTI(),
		"sub_id": map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "alice"},
		"events": map[string]any{
			EventSessionRevoked: map[string]any{
				"event_timestamp":   now.Add(-time.Second).Unix(),
				"initiating_entity": "admin",
				"reason_admin":      map[string]string{"en": "Offboarded"},
			},
		},
	}
}

// sign makes a compact JWS over claims with key (typ secevent+jwt unless
// hdr overrides it; a nil typ in hdr leaves typ out).
func sign(t testing.TB, key jose.JSONWebKey, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	typ, set := hdr[jose.HeaderType]
	switch {
	case !set:
		opts.WithType("secevent+jwt")
	case typ != nil:
		opts.WithType(jose.ContentType(typ.(string)))
	}
	for k, v := range hdr {
		if k != jose.HeaderType {
			opts.WithHeader(k, v)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key}, opts)
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
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsigned builds header.payload. with an arbitrary header (alg none).
func unsigned(t testing.TB, hdr map[string]any, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

// recorder is the Revoker and Auditor the receivers report to.
type recorder struct {
	mu        sync.Mutex
	revoked   []Request
	accepted  []Request
	rejected  []Rejection
	failRev   error
	revokeCtx []time.Time // deadlines seen, to check RevokeTimeout is applied
}

func (r *recorder) Revoke(ctx context.Context, req Request) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := ctx.Deadline(); ok {
		r.revokeCtx = append(r.revokeCtx, d)
	}
	if r.failRev != nil {
		return r.failRev
	}
	r.revoked = append(r.revoked, req)
	return nil
}

func (r *recorder) Accepted(_ context.Context, req Request) {
	r.mu.Lock()
	r.accepted = append(r.accepted, req)
	r.mu.Unlock()
}

func (r *recorder) Rejected(_ context.Context, rej Rejection) {
	r.mu.Lock()
	r.rejected = append(r.rejected, rej)
	r.mu.Unlock()
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	r.failRev = err
	r.mu.Unlock()
}

func (r *recorder) snapshot() (revoked, accepted []Request, rejected []Rejection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.revoked...), append([]Request(nil), r.accepted...), append([]Rejection(nil), r.rejected...)
}

var errLookupDown = errors.New("directory unreachable")

// directory is the email lookup used by the tests.
var directory = UserLookupFunc(func(_ context.Context, email string) (User, error) {
	switch email {
	case "bob@example.com":
		return User{Issuer: testIssuer, Subject: "bob"}, nil
	case "down@example.com":
		return User{}, errLookupDown
	}
	return User{}, ErrUnknownUser
})

// ssfEnv is one receiver behind a real HTTP server.
type ssfEnv struct {
	tx  *transmitter
	rec *recorder
	rcv *SSFReceiver
	srv *httptest.Server
}

func newSSFEnv(t testing.TB, tx *transmitter, mutate func(*SSFConfig)) *ssfEnv {
	t.Helper()
	rec := &recorder{}
	cfg := SSFConfig{
		Transmitter: Transmitter{Name: "test-idp", Issuer: testIssuer, JWKSURL: tx.jwksURL(),
			Audience: testAudience, BearerToken: testBearer},
		Revoker: rec, Auditor: rec, Users: directory,
		Logger: slog.New(slog.NewTextHandler(testLog{t}, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rcv, err := NewSSFReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	return &ssfEnv{tx: tx, rec: rec, rcv: rcv, srv: srv}
}

// testLog sends the receiver's log lines to t.Log: shown only on failure.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t testing.TB, method, url, contentType, bearer, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.body)
	}
	return out
}

// push delivers a SET the way an RFC 8935 transmitter does.
func (e *ssfEnv) push(t testing.TB, set string) response {
	t.Helper()
	return do(t, http.MethodPost, e.srv.URL, secEventMediaType, testBearer, set)
}
