package broker

import (
	"strings"
	"testing"
)

func validProvider() Provider {
	return Provider{
		Name: "github", AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
		ClientID: "Iv1.abc", ClientSecret: "s3cret-value", Scopes: []string{"repo"},
	}.withDefaults("https://gw.example.com/connect/callback")
}

func TestProvider_Validate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		edit    func(*Provider)
		wantErr string
	}{
		{"valid", func(*Provider) {}, ""},
		{"valid loopback http", func(p *Provider) { p.TokenURL = "http://127.0.0.1:9400/oauth/token" }, ""},
		{"valid token format", func(p *Provider) { p.Inject.Format = "token {token}" }, ""},
		{"valid custom header", func(p *Provider) { p.Inject = Injection{Header: "X-Api-Key", Format: "{token}"} }, ""},
		{"bad name", func(p *Provider) { p.Name = "Git Hub" }, "provider name"},
		{"callback name", func(p *Provider) { p.Name = "callback" }, "provider name"},
		{"http to a remote host", func(p *Provider) { p.TokenURL = "http://github.com/token" }, "http is allowed only to a loopback host"},
		{"relative URL", func(p *Provider) { p.AuthURL = "/authorize" }, "auth_url"},
		{"userinfo in URL", func(p *Provider) { p.TokenURL = "https://u:p@github.com/token" }, "without userinfo"},
		{"bad revocation URL", func(p *Provider) { p.RevocationURL = "ftp://x" }, "revocation_url"},
		{"no client id", func(p *Provider) { p.ClientID = "" }, "client_id is required"},
		{"no client secret", func(p *Provider) { p.ClientSecret = "" }, "client secret is empty"},
		{"bad auth style", func(p *Provider) { p.AuthStyle = "basic" }, "auth_style"},
		{"auth param overrides state", func(p *Provider) { p.AuthParams = map[string]string{"state": "x"} }, `may not set "state"`},
		{"auth param overrides PKCE", func(p *Provider) { p.AuthParams = map[string]string{"Code_Challenge": "x"} }, "may not set"},
		{"login hint as client_id", func(p *Provider) { p.LoginHintParam = "client_id" }, "login_hint_param"},
		{"no placeholder", func(p *Provider) { p.Inject.Format = "Bearer token" }, "exactly once"},
		{"two placeholders", func(p *Provider) { p.Inject.Format = "{token} {token}" }, "exactly once"},
		{"other placeholder", func(p *Provider) { p.Inject.Format = "Bearer {token} {user}" }, "only placeholder"},
		{"CRLF in format", func(p *Provider) { p.Inject.Format = "Bearer {token}\r\nX-Evil: 1" }, "printable ASCII"},
		{"trailing space", func(p *Provider) { p.Inject.Format = "Bearer {token} " }, "leading or trailing space"},
		{"header with colon", func(p *Provider) { p.Inject.Header = "Authorization:" }, "not a valid header name"},
		{"pseudo header", func(p *Provider) { p.Inject.Header = ":authority" }, "not a valid header name"},
		{"host header", func(p *Provider) { p.Inject.Header = "Host" }, "framed or routed"},
		{"content-length header", func(p *Provider) { p.Inject.Header = "content-length" }, "framed or routed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := validProvider()
			tc.edit(&p)
			err := p.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret-value") {
				t.Error("error contains the client secret")
			}
		})
	}
}

func TestInjection_Render(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, format, token, want string
		wantErr                   bool
	}{
		{"bearer", "Bearer {token}", "gho_abc", "Bearer gho_abc", false},
		{"github token scheme", "token {token}", "gho_abc", "token gho_abc", false},
		{"bare", "{token}", "xoxb-1-2", "xoxb-1-2", false},
		{"CRLF in token", "Bearer {token}", "abc\r\nX-Evil: 1", "", true},
		{"space in token", "Bearer {token}", "a b", "", true},
		{"non-ASCII token", "Bearer {token}", "tökén", "", true},
		{"empty token", "Bearer {token}", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Injection{Header: "Authorization", Format: tc.format}.render(tc.token)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("render = %q, %v", got, err)
			}
		})
	}
}

func TestParseProviders(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GH_SECRET": "from-env"}
	getenv := func(k string) string { return env[k] }
	ps, err := ParseProviders([]byte(`
providers:
  - name: github
    auth_url: https://github.com/login/oauth/authorize
    token_url: https://github.com/login/oauth/access_token
    client_id: Iv1.abc
    client_secret_env: GH_SECRET
    scopes: [repo, "read:user"]
    login_hint_param: login
    inject: {header: Authorization, format: "token {token}"}
`), getenv)
	if err != nil || len(ps) != 1 {
		t.Fatalf("ParseProviders = %v, %v", ps, err)
	}
	p := ps[0].withDefaults("https://gw.example.com/connect/callback")
	if p.ClientSecret != "from-env" || p.Inject.Format != "token {token}" || len(p.Scopes) != 2 || p.Validate() != nil {
		t.Errorf("provider = %+v (valid: %v)", p, p.Validate())
	}
	for name, doc := range map[string]string{
		"typo":        "providers:\n  - name: x\n    revocaton_url: https://x\n",
		"both":        "providers:\n  - name: x\n    client_secret: a\n    client_secret_env: GH_SECRET\n",
		"env missing": "providers:\n  - name: x\n    client_secret_env: NOPE\n",
	} {
		if _, err := ParseProviders([]byte(doc), getenv); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
