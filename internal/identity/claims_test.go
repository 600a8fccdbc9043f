package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/actiongate/actiongate/internal/principal"
)

// TestVerify_ClaimDerivation signs claim shapes with a key the test
// controls (served by a real discovery + JWKS endpoint) and checks the
// principal, or the error kind, each yields.
func TestVerify_ClaimDerivation(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	ti.addECKey(t, "ec-1")
	v := newVerifier(t, func(c *Config) { c.Audiences = []string{"actiongate", "actiongate-eu"} }, ti.URL())
	now := time.Now()
	cases := []struct {
		name  string
		edit  func(map[string]any)
		kid   string
		want  principal.Principal // checked fields: User, Agent, Tenant, Task, Groups, Chain
		error error
	}{
		{name: "delegated: agent is act.sub", want: principal.Principal{User: "dr-alice", Agent: "note-summarizer",
			Tenant: "st-marys", Groups: []string{"physicians"}, Chain: []principal.Actor{{Subject: "note-summarizer"}}}},
		{name: "ES256 key", kid: "ec-1", want: principal.Principal{User: "dr-alice", Agent: "note-summarizer",
			Tenant: "st-marys", Groups: []string{"physicians"}, Chain: []principal.Actor{{Subject: "note-summarizer"}}}},
		{name: "act wins over azp and client_id", edit: func(c map[string]any) {
			c["azp"], c["client_id"], c["act"] = "other-client", "third-client", map[string]any{"sub": "gateway", "iss": "https://gw"}
		}, want: principal.Principal{User: "dr-alice", Agent: "gateway", Tenant: "st-marys", Groups: []string{"physicians"},
			Chain: []principal.Actor{{Subject: "gateway", Issuer: "https://gw"}}}},
		{name: "nested chain outermost first", edit: func(c map[string]any) {
			c["act"] = map[string]any{"sub": "gateway", "act": map[string]any{"sub": "agent-42", "act": map[string]any{"sub": "orchestrator"}}}
		}, want: principal.Principal{User: "dr-alice", Agent: "gateway", Tenant: "st-marys", Groups: []string{"physicians"},
			Chain: []principal.Actor{{Subject: "gateway"}, {Subject: "agent-42"}, {Subject: "orchestrator"}}}},
		{name: "azp when no act", edit: func(c map[string]any) { delete(c, "act"); c["azp"] = "inbox-assistant" },
			want: principal.Principal{User: "dr-alice", Agent: "inbox-assistant", Tenant: "st-marys", Groups: []string{"physicians"}}},
		{name: "client_id when no act or azp", edit: func(c map[string]any) { delete(c, "act") },
			want: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"}}},
		{name: "act null is no act", edit: func(c map[string]any) { c["act"] = nil },
			want: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"}}},
		{name: "groups as one string, task claim, aud string", edit: func(c map[string]any) {
			c["groups"], c["task"], c["aud"] = "staff", "triage-42", "actiongate-eu"
		}, want: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys", Task: "triage-42",
			Groups: []string{"staff"}, Chain: []principal.Actor{{Subject: "note-summarizer"}}}},
		{name: "no tenant, no groups", edit: func(c map[string]any) { delete(c, "tenant"); delete(c, "groups") },
			want: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Chain: []principal.Actor{{Subject: "note-summarizer"}}}},
		{name: "aud among several", edit: func(c map[string]any) { c["aud"] = []string{"upstream", "actiongate"} },
			want: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"},
				Chain: []principal.Actor{{Subject: "note-summarizer"}}}},
		{name: "exp within leeway", edit: func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() },
			want: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys", Groups: []string{"physicians"},
				Chain: []principal.Actor{{Subject: "note-summarizer"}}}},

		{name: "no agent at all", edit: func(c map[string]any) { delete(c, "act"); delete(c, "client_id") }, error: ErrNoAgent},
		{name: "act without sub", edit: func(c map[string]any) { c["act"] = map[string]any{"iss": "x"} }, error: ErrNoAgent},
		{name: "nested act without sub", edit: func(c map[string]any) { c["act"] = map[string]any{"sub": "a", "act": map[string]any{}} }, error: ErrMalformed},
		{name: "act not an object", edit: func(c map[string]any) { c["act"] = "note-summarizer" }, error: ErrMalformed},
		{name: "act too deep", edit: func(c map[string]any) { c["act"] = deepAct(maxActDepth + 1) }, error: ErrMalformed},
		{name: "groups not strings", edit: func(c map[string]any) { c["groups"] = []any{"a", 1} }, error: ErrMalformed},
		{name: "tenant not a string", edit: func(c map[string]any) { c["tenant"] = []string{"a", "b"} }, error: ErrMalformed},
		{name: "no sub", edit: func(c map[string]any) { delete(c, "sub") }, error: ErrMalformed},
		{name: "no exp", edit: func(c map[string]any) { delete(c, "exp") }, error: ErrMalformed},
		{name: "exp is a string", edit: func(c map[string]any) { c["exp"] = "tomorrow" }, error: ErrMalformed},
		{name: "distributed claims", edit: func(c map[string]any) { c["_claim_names"] = map[string]string{"groups": "src1"} }, error: ErrMalformed},
		{name: "expired past leeway", edit: func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }, error: ErrExpired},
		{name: "nbf in the future", edit: func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() }, error: ErrExpired},
		{name: "iat in the future", edit: func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }, error: ErrExpired},
		{name: "other audience", edit: func(c map[string]any) { c["aud"] = []string{"upstream-mcp"} }, error: ErrAudience},
		{name: "no audience", edit: func(c map[string]any) { delete(c, "aud") }, error: ErrAudience},
		{name: "other issuer claim", edit: func(c map[string]any) { c["iss"] = "https://evil.example" }, error: ErrUnknownIssuer},
		{name: "no issuer", edit: func(c map[string]any) { delete(c, "iss") }, error: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			claims := ti.claims()
			if tc.edit != nil {
				tc.edit(claims)
			}
			kid := tc.kid
			if kid == "" {
				kid = "rsa-1"
			}
			p, err := v.Verify(context.Background(), ti.sign(t, kid, claims, nil))
			if tc.error != nil {
				if !errors.Is(err, tc.error) {
					t.Fatalf("err = %v, want %v", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.User != tc.want.User || p.Agent != tc.want.Agent || p.Tenant != tc.want.Tenant || p.Task != tc.want.Task ||
				!slices.Equal(p.Groups, tc.want.Groups) || !slices.Equal(p.Chain, tc.want.Chain) || p.Issuer != ti.URL() {
				t.Errorf("principal = %+v\nwant        %+v", p, tc.want)
			}
		})
	}
}

func deepAct(n int) map[string]any {
	act := map[string]any{"sub": "a0"}
	for i := 1; i < n; i++ {
		act = map[string]any{"sub": "a", "act": act}
	}
	return act
}

// TestVerify_HeaderPolicy covers what the JOSE header may say.
func TestVerify_HeaderPolicy(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	lax := newVerifier(t, nil, ti.URL())
	strict := newVerifier(t, func(c *Config) { c.Issuers[0].RequireAccessTokenType = true }, ti.URL())
	onlyES := newVerifier(t, func(c *Config) { c.Issuers[0].Algorithms = []string{"ES256"} }, ti.URL())
	good := ti.sign(t, "rsa-1", ti.claims(), nil)
	cases := []struct {
		name  string
		v     *Verifier
		token string
		want  error
	}{
		{"typ JWT accepted by default", lax, good, nil},
		{"typ at+jwt accepted", lax, ti.sign(t, "rsa-1", ti.claims(), map[jose.HeaderKey]any{"typ": "at+jwt"}), nil},
		{"typ application/at+jwt accepted when required", strict, ti.sign(t, "rsa-1", ti.claims(), map[jose.HeaderKey]any{"typ": "application/at+JWT"}), nil},
		{"typ JWT refused when at+jwt required", strict, good, ErrMalformed},
		{"other typ refused", lax, ti.sign(t, "rsa-1", ti.claims(), map[jose.HeaderKey]any{"typ": "logout+jwt"}), ErrMalformed},
		{"crit header refused", lax, ti.sign(t, "rsa-1", ti.claims(), map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}), ErrMalformed},
		{"algorithm not allowed for issuer", onlyES, good, ErrSignature},
		{"alg none", lax, unsigned(t, `{"alg":"none","typ":"JWT"}`, ti.claims()), ErrSignature},
		{"HS256 signed with the public key", lax, hmacWithPublicKey(t, ti), ErrSignature},
		{"kid swapped to another key", lax, swapKid(t, good, "ec-missing"), ErrSignature},
		{"JWS JSON serialization", lax, `{"payload":"x","signatures":[]}`, ErrMalformed},
		{"four segments", lax, good + ".x", ErrMalformed},
		{"too long", lax, strings.Repeat("a", MaxTokenLen+1), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.v.Verify(context.Background(), tc.token)
			if tc.want == nil && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func unsigned(t *testing.T, header string, claims map[string]any) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + payloadSegment(t, claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("sig"))
}

// hmacWithPublicKey is the classic algorithm-confusion forgery: HS256 with
// the issuer's public key bytes as the secret.
func hmacWithPublicKey(t *testing.T, ti *testIssuer) string {
	t.Helper()
	key := ti.key("rsa-1")
	pub := key.Public()
	secret, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "rsa-1"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(payloadJSON(t, ti.claims())))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// swapKid rewrites the header's kid, keeping payload and signature.
func swapKid(t *testing.T, raw, kid string) string {
	t.Helper()
	_, rest, _ := strings.Cut(raw, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"` + kid + `","typ":"JWT"}`))
	return h + "." + rest
}
