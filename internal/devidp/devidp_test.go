package devidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

func testOptions() Options {
	return Options{
		Users: []User{
			{Subject: "dr-alice", Tenant: "st-marys", Groups: []string{"physicians"}},
			{Subject: "staff-member", Tenant: "st-marys", Tenants: []string{"northwind"}, Groups: []string{"staff"}},
		},
		Agents: []Agent{
			{ClientID: "note-summarizer", ClientSecret: DevSecret("note-summarizer")},
			{ClientID: "inbox-assistant"}, // secret defaults to DevSecret
		},
	}
}

func startIdP(t *testing.T, opts Options) *IdP {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	idp, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		// A keep-alive connection the client dialled but never used is
		// "new" to the server, and Shutdown waits for it (up to Stop's 3 s).
		http.DefaultClient.CloseIdleConnections()
		idp.Stop()
	})
	return idp
}

// accessClaims is what the gateway reads from a delegated token.
type accessClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      []string `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Tenant   string   `json:"tenant"`
	Groups   []string `json:"groups"`
	Act      *struct {
		Sub string          `json:"sub"`
		Act json.RawMessage `json:"act"`
	} `json:"act"`
}

// verifyWithGoOIDC checks raw against the OP's discovery and JWKS exactly
// as a relying party would, and returns its claims.
func verifyWithGoOIDC(t *testing.T, issuer, raw string) accessClaims {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tok, err := provider.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the token: %v", err)
	}
	var c accessClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDiscovery_GoOIDC(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	provider, err := oidc.NewProvider(context.Background(), idp.Issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	if got := provider.Endpoint().TokenURL; got != idp.Issuer+"/oauth/token" {
		t.Errorf("token endpoint = %q", got)
	}
	var meta struct {
		Grants []string `json:"grant_types_supported"`
		JWKS   string   `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"client_credentials", grantJWTBearer, grantTokenExchange} {
		if !slices.Contains(meta.Grants, g) {
			t.Errorf("grant %s not advertised: %v", g, meta.Grants)
		}
	}
	if meta.JWKS == "" {
		t.Error("no jwks_uri")
	}
}

func TestToken_DelegatedClaims(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	before := time.Now().Add(-time.Second).Unix()
	raw, err := Token(context.Background(), idp.Issuer, "dr-alice", "note-summarizer", DevSecret("note-summarizer"), "")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	c := verifyWithGoOIDC(t, idp.Issuer, raw)
	if c.Iss != idp.Issuer || c.Sub != "dr-alice" || c.ClientID != "note-summarizer" {
		t.Errorf("iss/sub/client_id = %q/%q/%q", c.Iss, c.Sub, c.ClientID)
	}
	if !slices.Equal(c.Aud, []string{DefaultAudience}) {
		t.Errorf("aud = %v, want [%s]", c.Aud, DefaultAudience)
	}
	if c.Act == nil || c.Act.Sub != "note-summarizer" || c.Act.Act != nil {
		t.Errorf("act = %+v, want {sub: note-summarizer}", c.Act)
	}
	if c.Tenant != "st-marys" || !slices.Equal(c.Groups, []string{"physicians"}) {
		t.Errorf("tenant/groups = %q/%v", c.Tenant, c.Groups)
	}
	if c.Jti == "" || c.Iat < before || c.Exp <= c.Iat || c.Exp > time.Now().Add(11*time.Minute).Unix() {
		t.Errorf("jti/iat/exp = %q/%d/%d", c.Jti, c.Iat, c.Exp)
	}
}

func TestToken_TenantChoice(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	ctx := context.Background()
	raw, err := Token(ctx, idp.Issuer, "staff-member", "inbox-assistant", "", "northwind")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if c := verifyWithGoOIDC(t, idp.Issuer, raw); c.Tenant != "northwind" || c.Act.Sub != "inbox-assistant" {
		t.Errorf("tenant/act = %q/%+v", c.Tenant, c.Act)
	}
	_, err = Token(ctx, idp.Issuer, "dr-alice", "inbox-assistant", "", "northwind")
	if err == nil || !strings.Contains(err.Error(), `not a member of tenant "northwind"`) {
		t.Errorf("foreign tenant: err = %v", err)
	}
}

func TestToken_Refusals(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	cases := []struct {
		name                  string
		user, agent, secret   string
		wantErr, wantAlsoText string
	}{
		{"wrong secret", "dr-alice", "note-summarizer", "not-the-secret", "rejected its client secret", "dev-secret-note-summarizer"},
		{"unknown user", "mallory", "note-summarizer", "", `unknown user "mallory"`, "dr-alice, staff-member"},
		{"unknown agent", "dr-alice", "rogue-bot", "", `unknown agent "rogue-bot"`, "inbox-assistant, note-summarizer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := Token(context.Background(), idp.Issuer, tc.user, tc.agent, tc.secret, "")
			if err == nil {
				t.Fatalf("got a token, want an error")
			}
			if tok != "" || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.wantAlsoText) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	ctx := context.Background()
	old, err := Token(ctx, idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		t.Fatal(err)
	}
	oldKid := kidOf(t, old)
	newKid, err := idp.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	if newKid == oldKid {
		t.Fatalf("rotation kept kid %q", newKid)
	}
	kids := jwksKids(t, idp.Issuer+"/keys")
	if !slices.Contains(kids, oldKid) || !slices.Contains(kids, newKid) || len(kids) != 2 {
		t.Errorf("JWKS kids = %v, want old %q and new %q", kids, oldKid, newKid)
	}
	fresh, err := Token(ctx, idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := kidOf(t, fresh); got != newKid {
		t.Errorf("new token kid = %q, want %q", got, newKid)
	}
	verifyWithGoOIDC(t, idp.Issuer, old) // still in the JWKS during the grace period
}

func TestRotateKey_GraceExpires(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.KeyGrace = time.Nanosecond
	idp := startIdP(t, opts)
	newKid, err := idp.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, idp.Issuer+"/keys"); !slices.Equal(kids, []string{newKid}) {
		t.Errorf("JWKS kids after grace = %v, want only %q", kids, newKid)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func jwksKids(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestStart_RefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:9400"} {
		if _, err := Start(context.Background(), Options{Addr: addr}); err == nil || !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("Addr %q: err = %v", addr, err)
		}
	}
	if _, err := Start(context.Background(), Options{Issuer: "http://idp.example.com:9400"}); err == nil {
		t.Error("non-loopback issuer host accepted")
	}
}

func TestStop_ClosesPortAndContextStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	idp, err := Start(ctx, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-idp.done:
	case <-time.After(5 * time.Second):
		t.Fatal("IdP still serving after its context ended")
	}
	// Nothing of this IdP answers any more. (Another process may have been
	// given the freed port meanwhile, so only our own key id is conclusive.)
	kid := idp.store.keys.signing().id
	if resp, err := http.Get(idp.Issuer + "/keys"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), kid) {
			t.Fatal("the stopped IdP still serves its JWKS")
		}
	}
	idp.Stop() // idempotent
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, testOptions())
	d, err := FetchDirectory(context.Background(), http.DefaultClient, idp.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	if d.Issuer != idp.Issuer || d.Audience != DefaultAudience ||
		!slices.Equal(d.Agents, []string{"inbox-assistant", "note-summarizer"}) ||
		!slices.Equal(d.userNames(), []string{"dr-alice", "staff-member"}) {
		t.Errorf("directory = %+v", d)
	}
	resp, err := http.Get(idp.Issuer + DirectoryPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "dev-secret") {
		t.Error("directory lists a secret")
	}
}
