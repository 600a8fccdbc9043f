package credinject

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/mint"
)

// accounts answers Credential from a map of "tenant/user/provider" to the
// account token; anything else is not connected.
type accounts map[string]string

func (a accounts) Credential(_ context.Context, tenant, user, provider string) (broker.Credential, error) {
	tok, ok := a[tenant+"/"+user+"/"+provider]
	if !ok {
		return broker.Credential{}, &broker.NotConnectedError{Provider: provider, ConnectURL: "https://gw.example/connect/" + provider}
	}
	return broker.Credential{HeaderName: "Authorization", HeaderValue: "token " + tok, Token: tok}, nil
}

func TestForCall(t *testing.T) {
	ring, err := mint.LoadKeyRing(t.TempDir(), mint.KeyRingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mint.NewMinter(mint.MinterConfig{Issuer: "https://gw.example", Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	v, err := mint.NewVerifier(mint.VerifierConfig{Issuer: "https://gw.example", Audience: "https://code.example/mcp", Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	in := &Injector{Minter: m, Broker: accounts{"acme/alice/github": "gho_alice_account_token"}}
	call := Call{DecisionID: "d1", Server: "code", Tool: "list_repos", User: "alice", Agent: "coder",
		Chain: []string{"coder", "orchestrator"}, Tenant: "acme", Audience: "https://code.example/mcp"}
	tests := []struct {
		name        string
		mutate      func(*Call)
		injector    *Injector
		wantHeaders []string // header names, in order
		wantErr     error
	}{
		{"minted token only", func(c *Call) {}, in, []string{TokenHeader}, nil},
		{"brokered account takes Authorization", func(c *Call) { c.Provider = "github" }, in, []string{"authorization", AltTokenHeader}, nil},
		{"not connected", func(c *Call) { c.Provider = "github"; c.User = "bob" }, in, nil, broker.ErrNotConnected},
		{"session messages need no account", func(c *Call) { c.Provider = "github"; c.User = "bob"; c.Tool = "" }, in, []string{TokenHeader}, nil},
		{"no broker configured", func(c *Call) { c.Provider = "github" }, &Injector{Minter: m}, nil, ErrNoBroker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := call
			tc.mutate(&c)
			inj, err := tc.injector.ForCall(context.Background(), c)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var names []string
			for _, h := range inj.Headers {
				names = append(names, h.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.wantHeaders, ",") || len(inj.Secrets) != len(inj.Headers) {
				t.Fatalf("headers %v secrets %d, want %v", names, len(inj.Secrets), tc.wantHeaders)
			}
			minted := strings.TrimPrefix(inj.Headers[len(inj.Headers)-1].Value, "Bearer ")
			claims, err := v.Verify(context.Background(), minted, "")
			if err != nil {
				t.Fatal(err)
			}
			wantScope := mint.Scope("code", "list_repos")
			if c.Tool == "" {
				wantScope = mint.ServerScope("code")
			}
			if claims.Subject != c.User || claims.ClientID != "coder" || len(claims.Actors) != 2 || claims.Scope != wantScope || claims.DecisionID != "d1" {
				t.Fatalf("claims %+v", claims)
			}
			for _, s := range inj.Secrets {
				if s == "" || (!strings.Contains(inj.Headers[0].Value, s) && !strings.Contains(inj.Headers[len(inj.Headers)-1].Value, s)) {
					t.Fatalf("secret %q is not what was injected", s)
				}
			}
		})
	}
}
