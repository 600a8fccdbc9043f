package mint

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifier_Verify covers every check with tokens signed by the ring's
// real key (so only the one thing under test is wrong) and fetched over a
// real JWKS endpoint.
func TestVerifier_Verify(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	key := signingKeyOf(t, ring, clk.Now())
	jwks := newJWKSServer(t, ring)
	v := newRemoteVerifier(t, jwks.URL, clk, nil)
	header := func() map[string]any { return map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": key.kid} }
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := clk.Now().Unix()
	scope := Scope("ehr", "read_chart")

	for _, tc := range []struct {
		name  string
		hdr   func(map[string]any)
		claim func(map[string]any)
		priv  *ecdsa.PrivateKey
		raw   func(string) string
		scope string
		want  error
	}{
		{name: "valid", scope: scope},
		{name: "valid, no scope asked"},
		{name: "typ application/at+jwt", hdr: func(h map[string]any) { h["typ"] = "application/AT+JWT" }},
		{name: "aud as array", claim: func(c map[string]any) { c["aud"] = []string{"other", testResource} }},
		{name: "within leeway after exp", claim: func(c map[string]any) { c["exp"] = now - 20 }},
		{name: "expired", claim: func(c map[string]any) { c["exp"] = now - 31 }, want: ErrExpired},
		{name: "nbf in the future", claim: func(c map[string]any) { c["nbf"] = now + 60 }, want: ErrExpired},
		{name: "iat in the future", claim: func(c map[string]any) { c["iat"] = now + 60 }, want: ErrExpired},
		{name: "wrong audience", claim: func(c map[string]any) { c["aud"] = "https://mcp.example.test/billing" }, want: ErrWrongAudience},
		{name: "wrong issuer", claim: func(c map[string]any) { c["iss"] = "https://evil.example.test" }, want: ErrWrongIssuer},
		{name: "other tool's scope", claim: func(c map[string]any) { c["scope"] = Scope("ehr", "write_chart") }, scope: scope, want: ErrScope},
		{name: "scope prefix only", claim: func(c map[string]any) { c["scope"] = scope + "x" }, scope: scope, want: ErrScope},
		{name: "typ JWT (an ID token)", hdr: func(h map[string]any) { h["typ"] = "JWT" }, want: ErrTokenType},
		{name: "no typ", hdr: func(h map[string]any) { delete(h, "typ") }, want: ErrTokenType},
		{name: "alg none", hdr: func(h map[string]any) { h["alg"] = "none" }, want: ErrBadSignature},
		{name: "alg HS256", hdr: func(h map[string]any) { h["alg"] = "HS256" }, want: ErrBadSignature},
		{name: "no kid", hdr: func(h map[string]any) { delete(h, "kid") }, want: ErrBadSignature},
		{name: "crit header", hdr: func(h map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false }, want: ErrMalformed},
		{name: "signed by another key under our kid", priv: stranger, want: ErrBadSignature},
		{name: "tampered payload", raw: func(s string) string {
			p := strings.Split(s, ".")
			c, _ := base64.RawURLEncoding.DecodeString(p[1])
			c = []byte(strings.Replace(string(c), "dr-alice", "dr-mallo", 1))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + p[2]
		}, want: ErrBadSignature},
		{name: "no sub", claim: func(c map[string]any) { delete(c, "sub") }, want: ErrMalformed},
		{name: "no client_id", claim: func(c map[string]any) { delete(c, "client_id") }, want: ErrMalformed},
		{name: "client_id is not the actor", claim: func(c map[string]any) { c["client_id"] = "other" }, want: ErrMalformed},
		{name: "act without sub", claim: func(c map[string]any) { c["act"] = map[string]any{"iss": "x"} }, want: ErrMalformed},
		{name: "exp as string", claim: func(c map[string]any) { c["exp"] = "soon" }, want: ErrMalformed},
		{name: "four segments", raw: func(s string) string { return s + ".x" }, want: ErrMalformed},
		{name: "empty", raw: func(string) string { return "" }, want: ErrMalformed},
		{name: "too long", raw: func(s string) string { return s + strings.Repeat("A", MaxTokenLen) }, want: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, c := header(), validClaims(clk)
			if tc.hdr != nil {
				tc.hdr(h)
			}
			if tc.claim != nil {
				tc.claim(c)
			}
			priv := key.priv
			if tc.priv != nil {
				priv = tc.priv
			}
			raw := signRaw(t, priv, h, c)
			if tc.raw != nil {
				raw = tc.raw(raw)
			}
			_, err := v.Verify(context.Background(), raw, tc.scope)
			if tc.want == nil && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err != nil && len(raw) > 20 && strings.Contains(err.Error(), raw[len(raw)-20:]) {
				t.Fatal("the error contains the token")
			}
		})
	}
}

func TestVerifier_UnknownKidRefetchIsRateLimited(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	jwks := newJWKSServer(t, ring)
	v := newRemoteVerifier(t, jwks.URL, clk, func(c *VerifierConfig) { c.MinRefetchInterval = 10 * time.Second })
	m := newTestMinter(t, ring, clk, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mustMint(t, m, testGrant()).Raw, ""); err != nil {
		t.Fatal(err)
	}
	if jwks.hits.Load() != 1 {
		t.Fatalf("first verify: %d JWKS fetches, want 1", jwks.hits.Load())
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forge := func(kid string) string {
		return signRaw(t, stranger, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}, validClaims(clk))
	}
	if _, err := v.Verify(ctx, forge("k1"), ""); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unknown kid: %v", err)
	}
	for i := range 20 {
		if _, err := v.Verify(ctx, forge("k"+string(rune('a'+i))), ""); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if got := jwks.hits.Load(); got != 2 {
		t.Fatalf("21 forged kids within the interval caused %d fetches, want 2", got)
	}
	// A known kid with a bad signature never refetches.
	good := mustMint(t, m, testGrant()).Raw
	bad := good[:len(good)-4] + "AAAA"
	if _, err := v.Verify(ctx, bad, ""); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	clk.Advance(11 * time.Second)
	if _, err := v.Verify(ctx, forge("k-late"), ""); !errors.Is(err, ErrBadSignature) {
		t.Fatal(err)
	}
	if got := jwks.hits.Load(); got != 3 {
		t.Errorf("after the interval: %d fetches, want 3", got)
	}
}

func TestVerifier_JWKSUnavailable(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	jwks := newJWKSServer(t, ring)
	m := newTestMinter(t, ring, clk, nil)
	tok := mustMint(t, m, testGrant())
	ctx := context.Background()

	jwks.down.Store(true)
	v := newRemoteVerifier(t, jwks.URL, clk, nil)
	if _, err := v.Verify(ctx, tok.Raw, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("JWKS down at first use: %v, want ErrUnavailable", err)
	}
	jwks.down.Store(false)
	if _, err := v.Verify(ctx, tok.Raw, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("retry within the interval must not refetch: %v", err)
	}
	clk.Advance(11 * time.Second)
	if _, err := v.Verify(ctx, tok.Raw, ""); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
	// Keys are kept while refetches fail, up to MaxKeyAge, then refused.
	jwks.down.Store(true)
	clk.Advance(30 * time.Minute)
	tok2 := mustMint(t, m, testGrant())
	if _, err := v.Verify(ctx, tok2.Raw, ""); err != nil {
		t.Fatalf("stale keys within MaxKeyAge: %v", err)
	}
	clk.Advance(31 * time.Minute)
	tok3 := mustMint(t, m, testGrant())
	if _, err := v.Verify(ctx, tok3.Raw, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("keys older than MaxKeyAge: %v, want ErrUnavailable", err)
	}
}

func TestNewVerifier_Config(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	for _, cfg := range []VerifierConfig{
		{Audience: testResource, Keys: ring},
		{Issuer: testIssuer, Keys: ring},
		{Issuer: testIssuer, Audience: testResource},
		{Issuer: testIssuer, Audience: testResource, Keys: ring, JWKSURL: "http://127.0.0.1/jwks"},
		{Issuer: testIssuer, Audience: testResource, Keys: ring, Leeway: -1},
		{Issuer: testIssuer, Audience: testResource, JWKSURL: "http://x", RefreshInterval: 2 * time.Hour},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}
