package broker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// TokenPlaceholder is where the access token goes in Injection.Format.
const TokenPlaceholder = "{token}"

// Provider is one upstream OAuth 2.0 authorization server (GitHub,
// Google, Slack…) and how its tokens are injected into upstream requests.
type Provider struct {
	// Name is the provider's id in records and in /connect/{name}:
	// [a-z0-9][a-z0-9_-]{0,62}, not "callback".
	Name          string `yaml:"name"`
	AuthURL       string `yaml:"auth_url"`
	TokenURL      string `yaml:"token_url"`
	RevocationURL string `yaml:"revocation_url"` // RFC 7009; optional
	ClientID      string `yaml:"client_id"`
	// ClientSecret, or ClientSecretEnv naming the variable that holds it
	// (ParseProviders resolves it; prefer it to a secret in a file).
	ClientSecret    string   `yaml:"client_secret"`
	ClientSecretEnv string   `yaml:"client_secret_env"`
	Scopes          []string `yaml:"scopes"`
	// RedirectURL is the broker's callback as registered at the provider;
	// default Options.PublicURL + Options.ConnectPath + "/callback".
	RedirectURL string `yaml:"redirect_url"`
	// AuthStyle of client authentication at the token and revocation
	// endpoints: "header" (HTTP Basic), "params" (form), "" (token:
	// auto-detect; revocation: header).
	AuthStyle string `yaml:"auth_style"`
	// LoginHintParam, when set, sends the user id as this authorize
	// parameter (e.g. Google's and the dev IdP's "login_hint", GitHub's
	// "login"), suggesting the account to use.
	LoginHintParam string `yaml:"login_hint_param"`
	// AuthParams are extra authorize parameters, e.g. Google's
	// access_type=offline; OAuth's own parameters cannot be overridden.
	AuthParams map[string]string `yaml:"auth_params"`
	Inject     Injection         `yaml:"inject"`
}

// Injection says how a token is put into the upstream request.
type Injection struct {
	// Header name (default "Authorization").
	Header string `yaml:"header"`
	// Format of the value with TokenPlaceholder exactly once (default
	// "Bearer {token}"; GitHub also takes "token {token}").
	Format string `yaml:"format"`
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// reservedAuthParams are set by the broker on every authorize request.
var reservedAuthParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// forbiddenHeaders would let a provider config rewrite framing or routing
// of the upstream request rather than authenticate it.
var forbiddenHeaders = []string{"host", "content-length", "content-type", "transfer-encoding", "connection", "te", "trailer",
	"upgrade", "keep-alive", "proxy-connection", "proxy-authorization", "expect"}

// withDefaults fills the injection defaults and the redirect URL.
func (p Provider) withDefaults(defaultRedirect string) Provider {
	if p.Inject.Header == "" {
		p.Inject.Header = "Authorization"
	}
	if p.Inject.Format == "" {
		p.Inject.Format = "Bearer " + TokenPlaceholder
	}
	if p.RedirectURL == "" {
		p.RedirectURL = defaultRedirect
	}
	p.Scopes = slices.Clone(p.Scopes)
	return p
}

// Validate checks a provider (after defaults). Errors never contain the
// client secret.
func (p Provider) Validate() error {
	if !providerName.MatchString(p.Name) || p.Name == "callback" {
		return fmt.Errorf("broker: provider name %q: want [a-z0-9][a-z0-9_-]{0,62}, not \"callback\"", p.Name)
	}
	wrap := func(err error) error { return fmt.Errorf("broker: provider %q: %w", p.Name, err) }
	for _, u := range []struct {
		field, v string
		optional bool
	}{{"auth_url", p.AuthURL, false}, {"token_url", p.TokenURL, false}, {"revocation_url", p.RevocationURL, true}, {"redirect_url", p.RedirectURL, false}} {
		if u.v == "" && u.optional {
			continue
		}
		if err := checkURL(u.v); err != nil {
			return wrap(fmt.Errorf("%s: %w", u.field, err))
		}
	}
	if p.ClientID == "" {
		return wrap(errors.New("client_id is required"))
	}
	if p.ClientSecret == "" {
		return wrap(errors.New("client secret is empty (set client_secret_env)"))
	}
	switch p.AuthStyle {
	case "", "header", "params":
	default:
		return wrap(fmt.Errorf("auth_style %q: want header, params or empty", p.AuthStyle))
	}
	for k := range p.AuthParams {
		if slices.Contains(reservedAuthParams, strings.ToLower(k)) || (p.LoginHintParam != "" && k == p.LoginHintParam) {
			return wrap(fmt.Errorf("auth_params may not set %q", k))
		}
	}
	if slices.Contains(reservedAuthParams, strings.ToLower(p.LoginHintParam)) {
		return wrap(fmt.Errorf("login_hint_param may not be %q", p.LoginHintParam))
	}
	if err := p.Inject.validate(); err != nil {
		return wrap(err)
	}
	return nil
}

// checkURL admits https URLs, and http only to a loopback host (dev and
// tests): a token or client secret never crosses a network in clear.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without userinfo or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q: http is allowed only to a loopback host; use https", raw)
	}
	return fmt.Errorf("%q: scheme must be https", raw)
}

func (in Injection) validate() error {
	if !isToken(in.Header) {
		return fmt.Errorf("inject.header %q is not a valid header name", in.Header)
	}
	if slices.Contains(forbiddenHeaders, strings.ToLower(in.Header)) {
		return fmt.Errorf("inject.header %q would change how the request is framed or routed, not authenticate it", in.Header)
	}
	if strings.Count(in.Format, TokenPlaceholder) != 1 {
		return fmt.Errorf("inject.format %q must contain %s exactly once", in.Format, TokenPlaceholder)
	}
	rest := strings.Replace(in.Format, TokenPlaceholder, "", 1)
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("inject.format %q: %s is the only placeholder", in.Format, TokenPlaceholder)
	}
	for _, c := range []byte(rest) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("inject.format %q: only printable ASCII is allowed", in.Format)
		}
	}
	if strings.TrimSpace(in.Format) != in.Format {
		return fmt.Errorf("inject.format %q has leading or trailing space", in.Format)
	}
	return nil
}

// render puts token into the format. A token from the provider is data:
// one that could break out of the header value is refused.
func (in Injection) render(token string) (string, error) {
	if token == "" {
		return "", errors.New("broker: empty access token")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return "", errors.New("broker: access token has characters that are not allowed in a header value")
		}
	}
	return strings.Replace(in.Format, TokenPlaceholder, token, 1), nil
}

// isToken reports whether s is an RFC 9110 token (a header field name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// ParseProviders reads
//
//	providers:
//	  - name: github
//	    auth_url: https://github.com/login/oauth/authorize
//	    token_url: https://github.com/login/oauth/access_token
//	    client_id: Iv1.abc
//	    client_secret_env: GITHUB_CLIENT_SECRET
//	    scopes: [repo]
//	    inject: {header: Authorization, format: "token {token}"}
//
// resolving client_secret_env with getenv. Unknown keys are errors (a typo
// must not silently drop, say, the revocation URL). Providers are checked
// fully by New, once the redirect URL default is known.
func ParseProviders(data []byte, getenv func(string) string) ([]Provider, error) {
	var doc struct {
		Providers []Provider `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("broker: providers config: %w", err)
	}
	for i := range doc.Providers {
		p := &doc.Providers[i]
		switch {
		case p.ClientSecret != "" && p.ClientSecretEnv != "":
			return nil, fmt.Errorf("broker: provider %q: set client_secret or client_secret_env, not both", p.Name)
		case p.ClientSecretEnv != "":
			if p.ClientSecret = getenv(p.ClientSecretEnv); p.ClientSecret == "" {
				return nil, fmt.Errorf("broker: provider %q: %s is empty or unset", p.Name, p.ClientSecretEnv)
			}
		}
	}
	return doc.Providers, nil
}
