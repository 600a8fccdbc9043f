package devidp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/registry"
)

// TestTokenExchange_Refusals sends hand-made token-exchange requests to the
// OP and checks each non-delegation or wrong-target request is refused
// with the RFC 6749/8693 error code.
func TestTokenExchange_Refusals(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	ctx := context.Background()
	summarizer := Request{Issuer: idp.Issuer, Agent: "note-summarizer", AgentSecret: DevSecret("note-summarizer"), HTTPClient: http.DefaultClient}
	inbox := Request{Issuer: idp.Issuer, Agent: "inbox-assistant", AgentSecret: DevSecret("inbox-assistant"), HTTPClient: http.DefaultClient}
	tokenURL := idp.Issuer + "/oauth/token"
	agentTok := func(r Request) string {
		tok, err := r.post(ctx, tokenURL, url.Values{"grant_type": {"client_credentials"}}, true)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	assertion, err := userAssertion("dr-alice", idp.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	userTok, err := summarizer.post(ctx, tokenURL, url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}}, false)
	if err != nil {
		t.Fatal(err)
	}
	summarizerTok, inboxTok := agentTok(summarizer), agentTok(inbox)
	base := func() url.Values {
		return url.Values{
			"grant_type": {grantTokenExchange}, "subject_token": {userTok}, "subject_token_type": {tokenTypeAccess},
			"actor_token": {summarizerTok}, "actor_token_type": {tokenTypeAccess}, "audience": {DefaultAudience},
		}
	}
	cases := []struct {
		name     string
		edit     func(url.Values)
		wantCode string
	}{
		{"control: valid delegation", func(url.Values) {}, ""},
		{"impersonation (no actor_token)", func(v url.Values) { v.Del("actor_token"); v.Del("actor_token_type") }, "invalid_request"},
		{"another agent's actor_token", func(v url.Values) { v.Set("actor_token", inboxTok) }, "invalid_request"},
		{"agent token as subject", func(v url.Values) { v.Set("subject_token", summarizerTok) }, "invalid_request"},
		{"other audience", func(v url.Values) { v.Set("audience", "some-upstream") }, "invalid_target"},
		{"no audience", func(v url.Values) { v.Del("audience") }, "invalid_target"},
		{"refresh token requested", func(v url.Values) { v.Set("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token") }, "invalid_request"},
		{"two tenants", func(v url.Values) { v.Set("scope", "tenant:st-marys tenant:northwind") }, "invalid_scope"},
		{"forged subject token", func(v url.Values) { v.Set("subject_token", userTok[:len(userTok)-4]+"AAAA") }, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := base()
			tc.edit(form)
			tok, err := summarizer.post(ctx, tokenURL, form, true)
			var oe *oauthError
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("valid exchange refused: %v", err)
			case tc.wantCode == "" && tok == "":
				t.Fatal("no token")
			case tc.wantCode != "" && !errors.As(err, &oe):
				t.Fatalf("err = %v, want OAuth error %s", err, tc.wantCode)
			case tc.wantCode != "" && oe.Code != tc.wantCode:
				t.Errorf("error = %v, want %s", oe, tc.wantCode)
			}
		})
	}
}

func TestToken_LifetimeIsAccessTokenTTL(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.AccessTokenTTL = 2 * time.Minute
	idp := startIdP(t, opts)
	raw, err := Token(context.Background(), idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := verifyWithGoOIDC(t, idp.Issuer, raw)
	if ttl := c.Exp - c.Iat; ttl > 120 || ttl < 110 {
		t.Errorf("token lifetime %ds, want about AccessTokenTTL (120s)", ttl)
	}
}

func TestToken_NoIdP(t *testing.T) {
	t.Parallel()
	_, err := Token(context.Background(), "http://127.0.0.1:1", "dr-alice", "note-summarizer", "", "")
	if err == nil || !strings.Contains(err.Error(), "no OpenID Provider") {
		t.Errorf("err = %v", err)
	}
}

func TestQuickstartOptions_ExampleRegistry(t *testing.T) {
	t.Parallel()
	reg, err := registry.Load(filepath.Join("..", "..", "examples", "registry"))
	if err != nil {
		t.Fatal(err)
	}
	opts := QuickstartOptions(reg)
	if opts.Issuer != DefaultIssuer || opts.Audience != DefaultAudience {
		t.Errorf("issuer/audience = %q/%q", opts.Issuer, opts.Audience)
	}
	var agents []string
	for _, a := range opts.Agents {
		agents = append(agents, a.ClientID)
		if a.ClientSecret != "dev-secret-"+a.ClientID {
			t.Errorf("agent %s secret %q", a.ClientID, a.ClientSecret)
		}
	}
	if !slices.Equal(agents, []string{"inbox-assistant", "note-summarizer", "trade-executor"}) {
		t.Errorf("agents = %v", agents)
	}
	want := map[string]User{
		// inbox-assistant lists tenants [northwind, st-marys] (the registry sorts them).
		"staff-member":      {Subject: "staff-member", Tenant: "northwind", Tenants: []string{"st-marys"}, Groups: []string{"staff"}},
		"dr-alice":          {Subject: "dr-alice", Tenant: "st-marys"},
		"physicians-member": {Subject: "physicians-member", Tenant: "st-marys", Groups: []string{"physicians"}},
		"trader-bob":        {Subject: "trader-bob", Tenant: "northwind"},
	}
	if len(opts.Users) != len(want) {
		t.Errorf("users = %+v", opts.Users)
	}
	for _, u := range opts.Users {
		w, ok := want[u.Subject]
		if !ok || u.Tenant != w.Tenant || !slices.Equal(u.Tenants, w.Tenants) || !slices.Equal(u.Groups, w.Groups) {
			t.Errorf("user %+v, want %+v", u, w)
		}
	}
	// The derived options start a working IdP (on a free port, not 9400).
	opts.Issuer, opts.Addr = "", ""
	idp := startIdP(t, opts)
	if _, err := Token(context.Background(), idp.Issuer, "trader-bob", "trade-executor", "", ""); err != nil {
		t.Errorf("quickstart user/agent: %v", err)
	}
}

// TestTokenExchange_RedelegationNestsAct exchanges a delegated token again
// with another agent as actor: the new token's act chain records both,
// current actor outermost (RFC 8693 §4.1).
func TestTokenExchange_RedelegationNestsAct(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	ctx := context.Background()
	delegated, err := Token(ctx, idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		t.Fatal(err)
	}
	inbox := Request{Issuer: idp.Issuer, Agent: "inbox-assistant", AgentSecret: DevSecret("inbox-assistant"), HTTPClient: http.DefaultClient}
	tokenURL := idp.Issuer + "/oauth/token"
	actor, err := inbox.post(ctx, tokenURL, url.Values{"grant_type": {"client_credentials"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	again, err := inbox.post(ctx, tokenURL, url.Values{
		"grant_type": {grantTokenExchange}, "subject_token": {delegated}, "subject_token_type": {tokenTypeAccess},
		"actor_token": {actor}, "actor_token_type": {tokenTypeAccess}, "audience": {DefaultAudience},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyWithGoOIDC(t, idp.Issuer, again)
	if c.Sub != "dr-alice" || c.ClientID != "inbox-assistant" || c.Act == nil || c.Act.Sub != "inbox-assistant" {
		t.Fatalf("claims = %+v", c)
	}
	if got := strings.ReplaceAll(string(c.Act.Act), " ", ""); got != `{"sub":"note-summarizer"}` {
		t.Errorf("nested act = %s, want the previous actor", got)
	}
}

func TestNumericDate(t *testing.T) {
	t.Parallel()
	if got, ok := numericDate(float64(1795674720)); !ok || got.Unix() != 1795674720 {
		t.Errorf("float64 exp: %v %v", got, ok)
	}
	for _, v := range []any{nil, "1795674720", float64(-1), float64(1e15)} {
		if _, ok := numericDate(v); ok {
			t.Errorf("numericDate(%v) accepted", v)
		}
	}
}
