package identity

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header string
		want   string
		err    error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc", "abc", nil},
		{"BEARER abc", "abc", nil},
		{"Bearer   abc", "abc", nil},
		{"Bearer a-._~+/b==", "a-._~+/b==", nil},
		{"", "", ErrMissing},
		{"Basic dXNlcjpwYXNz", "", ErrMissing},
		{"DPoP abc", "", ErrMissing},
		{"Bearerabc", "", ErrMissing},
		{"Bear", "", ErrMissing},
		{"Bearer", "", ErrMalformed},
		{"Bearer ", "", ErrMalformed},
		{"Bearer abc def", "", ErrMalformed},
		{"Bearer abc, Bearer def", "", ErrMalformed},
		{"Bearer abc ", "", ErrMalformed},
		{"Bearer\tabc", "", ErrMalformed},
		{"Bearer ===", "", ErrMalformed},
		{"Bearer a=b", "", ErrMalformed},
		{"Bearer a\"b", "", ErrMalformed},
		{"Bearer a\nb", "", ErrMalformed},
		{"Bearer " + strings.Repeat("a", MaxTokenLen+1), "", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			t.Parallel()
			got, err := BearerToken(tc.header)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("token = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "Bearer  a b", "Bearer a=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := BearerToken(header)
		if err != nil {
			if tok != "" || !(errors.Is(err, ErrMissing) || errors.Is(err, ErrMalformed)) {
				t.Fatalf("err %v with token %q", err, tok)
			}
			if len(header) > 20 && strings.Contains(err.Error(), header) {
				t.Fatal("error echoes the header")
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenLen || strings.ContainsAny(tok, " \t\r\n,\"") || !strings.HasSuffix(header, tok) {
			t.Fatalf("accepted token %q from %q", tok, header)
		}
	})
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	const prm = "https://gw.example.com/.well-known/oauth-protected-resource/mcp/ehr"
	invalid := func(msg string) string {
		return `Bearer error="invalid_token", error_description="` + msg + `", resource_metadata="` + prm + `"`
	}
	cases := []struct {
		name   string
		err    error
		status int
		header string
	}{
		{"missing", fail(ErrMissing, "x"), http.StatusUnauthorized, `Bearer resource_metadata="` + prm + `"`},
		{"malformed", fail(ErrMalformed, "detail"), http.StatusUnauthorized, invalid("malformed token")},
		{"expired", fail(ErrExpired, "x"), http.StatusUnauthorized, invalid("token expired or not yet valid")},
		{"audience", fail(ErrAudience, "x"), http.StatusUnauthorized, invalid("token was not issued for this resource")},
		{"issuer", fail(ErrUnknownIssuer, "x"), http.StatusUnauthorized, invalid("token issuer is not trusted")},
		{"signature", failWith(ErrSignature, "", errors.New("inner")), http.StatusUnauthorized, invalid("token signature is invalid")},
		{"no agent", fail(ErrNoAgent, "x"), http.StatusUnauthorized, invalid("token does not identify an agent")},
		{"unavailable", fail(ErrUnavailable, "x"), http.StatusServiceUnavailable, ""},
		{"unknown error fails closed", errors.New("boom"), http.StatusServiceUnavailable, ""},
		{"nil", nil, http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, header := Challenge(tc.err, prm)
			if status != tc.status || header != tc.header {
				t.Errorf("Challenge = %d %q\nwant        %d %q", status, header, tc.status, tc.header)
			}
		})
	}
	if _, h := Challenge(fail(ErrMissing, ""), ""); h != "Bearer" {
		t.Errorf("no metadata URL: %q", h)
	}
	if got := PublicMessage(failWith(ErrSignature, "secret detail", errors.New("internal"))); got != "token signature is invalid" {
		t.Errorf("PublicMessage leaks detail: %q", got)
	}
}
