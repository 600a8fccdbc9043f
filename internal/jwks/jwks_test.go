package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestFetch(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: k, KeyID: "private-one", Use: "sig"}, // a private key published by mistake: only its public half is kept
		{Key: &k.PublicKey, KeyID: "enc", Use: "enc"},
	}})
	routes := map[string]func(http.ResponseWriter){
		"/good":    func(w http.ResponseWriter) { _, _ = w.Write(good) },
		"/oct":     func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)) },
		"/missing": func(w http.ResponseWriter) { http.NotFound(w, nil) },
		"/huge": func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", MaxBytes) + `]}`))
		},
		"/garbage": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`<html>`)) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { routes[r.URL.Path](w) }))
	defer srv.Close()

	keys, err := Fetch(context.Background(), srv.Client(), srv.URL+"/good")
	if err != nil || len(keys) != 1 || keys[0].KeyID != "private-one" || !keys[0].IsPublic() {
		t.Fatalf("good set: %v %v", keys, err)
	}
	for path, want := range map[string]string{"/oct": "no usable", "/missing": "404", "/huge": "larger than", "/garbage": "decoding"} {
		if _, err := Fetch(context.Background(), srv.Client(), srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", path, err, want)
		}
	}
}

func TestParse_SkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	body := `{"keys":[
		{"kty":"oct","k":"c2VjcmV0","kid":"hmac"},
		{"kty":"RSA","use":"enc","kid":"enc","n":"sXch","e":"AQAB"},
		{"kty":"OKP","crv":"X448","x":"AAAA","kid":"x448"},
		{"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
	]}`
	keys, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KeyID != "ec" {
		t.Errorf("keys = %v, want only the EC signature key", keys)
	}
	if _, err := Parse([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)); err == nil {
		t.Error("a JWKS with only a symmetric key was accepted")
	}
}
