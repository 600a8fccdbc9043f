package identity

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzParseToken feeds arbitrary strings to the unverified decoder: it must
// never panic, and anything it accepts has an issuer.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{
		"a.b.c", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "..", "e30.e30.e30",
		"eyJjcml0IjpbXX0.eyJpc3MiOiJ4In0.eA", "eyJhbGciOiJub25lIn0.eyJpc3MiOjF9.eA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseToken(raw)
		if err != nil {
			if tok != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseToken error %v (token %v)", err, tok)
			}
			return
		}
		if tok.iss == "" {
			t.Fatal("accepted a token without iss")
		}
	})
}

// FuzzVerifyClaims signs arbitrary claim JSON with a trusted key: Verify
// must never panic, must fail with one of its kinds, and a success must be
// a complete, attributable principal for this audience.
func FuzzVerifyClaims(f *testing.F) {
	ti := newTestIssuer(f)
	ti.addECKey(f, "ec-fuzz")
	v := newVerifier(f, func(c *Config) { c.CacheSize = -1 }, ti.URL())
	for _, c := range []map[string]any{
		ti.claims(),
		{"iss": ti.URL(), "sub": "u", "aud": "actiongate", "exp": 4102444800, "azp": "a"},
		{"iss": ti.URL(), "sub": "u", "aud": "actiongate", "exp": 4102444800, "act": map[string]any{"sub": "x", "act": "y"}},
		{"iss": ti.URL(), "sub": "u", "aud": []any{1}, "exp": 4102444800},
	} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	key := ti.key("ec-fuzz")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Skip()
		}
		raw, err := jws.CompactSerialize()
		if err != nil {
			t.Skip()
		}
		p, err := v.Verify(context.Background(), raw)
		if err != nil {
			known := false
			for _, k := range kinds {
				known = known || errors.Is(err, k)
			}
			if !known || p.User != "" {
				t.Fatalf("Verify error %v (principal %+v)", err, p)
			}
			return
		}
		if p.User == "" || p.Agent == "" || p.Issuer != ti.URL() || p.ExpiresAt.IsZero() ||
			(len(p.Chain) > 0 && p.Chain[0].Subject != p.Agent) {
			t.Fatalf("incomplete principal %+v", p)
		}
	})
}
