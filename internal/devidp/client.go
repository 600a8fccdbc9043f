package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// OAuth URNs the flow uses (RFC 7523, RFC 8693).
const (
	grantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// Request is one delegated-token request to an OP.
type Request struct {
	Issuer string
	User   string
	Agent  string
	// AgentSecret defaults to DevSecret(Agent).
	AgentSecret string
	// Tenant is one of the user's tenants; empty means the user's default.
	Tenant string
	// Audience defaults to DefaultAudience.
	Audience   string
	HTTPClient *http.Client
}

// Token obtains a delegated access token for user, acting agent, over
// HTTP against the OP at issuer. See Request.Token for the flow.
func Token(ctx context.Context, issuer, user, agent, agentSecret, tenant string) (string, error) {
	return Request{Issuer: issuer, User: user, Agent: agent, AgentSecret: agentSecret, Tenant: tenant}.Token(ctx)
}

// Token performs the flow an agent platform would, against the OP's token
// endpoint found by discovery:
//  1. client_credentials as the agent (HTTP Basic) → the actor token;
//  2. the JWT-bearer grant (RFC 7523) with an assertion signed by the
//     user's dev key → the subject token (a user token; aud = the OP);
//  3. token exchange (RFC 8693) as the agent: subject_token = user token,
//     actor_token = agent token, audience = the gateway → the delegated
//     token (sub = user, act.sub = agent, client_id = agent, aud = gateway).
func (r Request) Token(ctx context.Context) (string, error) {
	if r.User == "" || r.Agent == "" {
		return "", errors.New("devidp: user and agent are required")
	}
	if r.AgentSecret == "" {
		r.AgentSecret = DevSecret(r.Agent)
	}
	if r.Audience == "" {
		r.Audience = DefaultAudience
	}
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	issuer, tokenURL, err := r.discover(ctx)
	if err != nil {
		return "", err
	}
	actor, err := r.post(ctx, tokenURL, url.Values{"grant_type": {"client_credentials"}}, true)
	if err != nil {
		return "", r.explain(ctx, "agent token (client_credentials)", err)
	}
	assertion, err := userAssertion(r.User, issuer)
	if err != nil {
		return "", err
	}
	subject, err := r.post(ctx, tokenURL, url.Values{
		"grant_type": {grantJWTBearer}, "assertion": {assertion}, "scope": {"openid"},
	}, false)
	if err != nil {
		return "", r.explain(ctx, "user token (jwt-bearer)", err)
	}
	form := url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token":        {subject},
		"subject_token_type":   {tokenTypeAccess},
		"actor_token":          {actor},
		"actor_token_type":     {tokenTypeAccess},
		"audience":             {r.Audience},
		"requested_token_type": {tokenTypeAccess},
	}
	if r.Tenant != "" {
		form.Set("scope", tenantScope+r.Tenant)
	}
	delegated, err := r.post(ctx, tokenURL, form, true)
	if err != nil {
		return "", r.explain(ctx, "delegated token (token exchange)", err)
	}
	return delegated, nil
}

func (r Request) discover(ctx context.Context) (issuer, tokenURL string, err error) {
	wellKnown := strings.TrimSuffix(r.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return "", "", fmt.Errorf("devidp: issuer %q: %w", r.Issuer, err)
	}
	resp, err := r.HTTPClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("devidp: no OpenID Provider at %s (is the quickstart or dev IdP running?): %w", r.Issuer, err)
	}
	defer resp.Body.Close()
	var meta struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("devidp: discovery at %s: %s", wellKnown, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta); err != nil || meta.TokenEndpoint == "" {
		return "", "", fmt.Errorf("devidp: discovery at %s has no token_endpoint", wellKnown)
	}
	if strings.TrimSuffix(meta.Issuer, "/") != strings.TrimSuffix(r.Issuer, "/") {
		return "", "", fmt.Errorf("devidp: discovery at %s names issuer %q", wellKnown, meta.Issuer)
	}
	return meta.Issuer, meta.TokenEndpoint, nil
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Description, e.Status)
}

// post sends one token request and returns the access_token.
func (r Request) post(ctx context.Context, tokenURL string, form url.Values, asAgent bool) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if asAgent {
		// RFC 6749 §2.3.1: form-encode the id and secret inside Basic.
		req.SetBasicAuth(url.QueryEscape(r.Agent), url.QueryEscape(r.AgentSecret))
	}
	resp, err := r.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		oe := &oauthError{Status: resp.StatusCode}
		if json.Unmarshal(body, oe) != nil || oe.Code == "" {
			oe.Code = "unexpected response"
		}
		return "", oe
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		return "", errors.New("token response has no bearer access_token")
	}
	return tok.AccessToken, nil
}

// explain turns an OP error into one a person can act on, using the dev
// IdP's directory when the OP has one.
func (r Request) explain(ctx context.Context, step string, err error) error {
	d, derr := FetchDirectory(ctx, r.HTTPClient, r.Issuer)
	if derr == nil {
		if !slices.Contains(d.Agents, r.Agent) {
			return fmt.Errorf("unknown agent %q (known agents: %s)", r.Agent, strings.Join(d.Agents, ", "))
		}
		if _, ok := d.user(r.User); !ok {
			return fmt.Errorf("unknown user %q (known users: %s)", r.User, strings.Join(d.userNames(), ", "))
		}
		var oe *oauthError
		if errors.As(err, &oe) && oe.Code == "invalid_client" {
			return fmt.Errorf("agent %q: the IdP rejected its client secret (the dev default is %q)", r.Agent, DevSecret(r.Agent))
		}
	}
	return fmt.Errorf("devidp: %s: %w", step, err)
}

// userAssertion is the RFC 7523 §3 assertion: iss = sub = the user, aud =
// the OP's issuer, signed with the user's derived dev key.
func userAssertion(user, issuer string) (string, error) {
	priv, kid, err := userKey(user)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	payload, err := json.Marshal(map[string]any{
		"iss": user, "sub": user, "aud": []string{issuer},
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": newTokenID(),
	})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
