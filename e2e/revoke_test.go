package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/drill"
)

// TestOffboardDrill runs `actiongate drill offboard` against the e2e
// deployment: after revoking trader-bob, his next call is refused and his
// open SSE stream ends within a second, other users' concurrent calls all
// succeed, and the revocation is lifted again at the end.
func TestOffboardDrill(t *testing.T) {
	rep, err := drill.Offboard(context.Background(), drill.Options{
		Gateway: "http://" + env.stack.DataPlane, Admin: env.stack.AdminURL, AdminToken: env.stack.AdminToken,
		IdP: env.stack.IdP.Issuer, Registry: env.stack.App.Watcher.Current(),
		User: "trader-bob", Others: []string{"dr-alice", "qa-user"},
		Warmup: 500 * time.Millisecond, Observe: 1500 * time.Millisecond, Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("drill report:\n%s", b)
	if !rep.Pass {
		t.Fatalf("drill failed: %v", rep.Problems)
	}
	if rep.StreamEnded < 0 {
		t.Fatal("trader-bob had no open SSE stream to end (the trading server keeps sessions)")
	}
	if !rep.Lifted {
		t.Fatal("the revocation was not lifted")
	}
	// Lifted: bob works again.
	callText(t, connectAs(t, "trading", token(t, bob)), "get_quote", map[string]any{"symbol": "ACME"})
}

// ssfTransmitter is an IdP's Shared Signals transmitter: a signing key
// and its JWKS on loopback.
type ssfTransmitter struct {
	key  *ecdsa.PrivateKey
	jwks *httptest.Server
}

const ssfIssuer = "https://idp.e2e.example"

func newSSFTransmitter() (*ssfTransmitter, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "ssf-1", Algorithm: "ES256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	return &ssfTransmitter{key: k, jwks: srv}, nil
}

// set signs a RISC account-disabled Security Event Token for user.
func (s *ssfTransmitter) set(t *testing.T, userIssuer, user string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key},
		(&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader("kid", "ssf-1"))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{
		"iss": ssfIssuer, "aud": "actiongate-e2e", "iat": time.Now().Unix(), "jti": "set-" + time.Now().Format("150405.000000"),
		"events": map[string]any{"https://schemas.openid.net/secevent/risc/event-type/account-disabled": map[string]any{
			"subject": map[string]any{"format": "iss_sub", "iss": userIssuer, "sub": user},
			"reason":  "hijacking",
		}},
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSSFEventRevokesUser: a signed RISC account-disabled event pushed by
// the IdP revokes the user on the gateway: the next call is refused. A
// SET with a bad signature is rejected and changes nothing.
func TestSSFEventRevokesUser(t *testing.T) {
	tok := token(t, tester)
	cs := connectAs(t, "everything", tok)
	callText(t, cs, "echo", map[string]any{"message": "before"})

	forged := env.ssf.set(t, env.stack.IdP.Issuer, "qa-user")
	forged = forged[:len(forged)-4] + "AAAA"
	if code := pushSET(t, forged); code != http.StatusBadRequest {
		t.Fatalf("forged SET answered %d, want 400", code)
	}
	callText(t, cs, "echo", map[string]any{"message": "still allowed"})

	if code := pushSET(t, env.ssf.set(t, env.stack.IdP.Issuer, "qa-user")); code != http.StatusAccepted {
		t.Fatalf("SET answered %d, want 202", code)
	}
	t.Cleanup(func() { liftUser(t, "qa-user") })
	if reason := callAs(t, "everything", token(t, tester), "echo", map[string]any{"message": "after"}); reason != "revoked" {
		t.Fatalf("call after the IdP disabled the account: %q, want revoked", reason)
	}
}

func pushSET(t *testing.T, set string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.stack.AdminURL+"/ssf/e2e-idp", strings.NewReader(set))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func liftUser(t *testing.T, user string) {
	body := `{"kind":"user","subject":"` + user + `","lift":true}`
	req, _ := http.NewRequest(http.MethodPost, env.stack.AdminURL+"/v1/revocations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+env.stack.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lift %s: HTTP %d", user, resp.StatusCode)
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRevokeSession: revoking one MCP session refuses that session's next
// call and nothing else: a new session of the same user works.
func TestRevokeSession(t *testing.T) {
	cs := connectAs(t, "trading", token(t, bob))
	callText(t, cs, "get_quote", map[string]any{"symbol": "ACME"})
	sid := cs.ID()
	if sid == "" {
		t.Fatal("the trading server keeps sessions, but the client has no session id")
	}
	revokeVia(t, `{"kind":"session","subject":"`+sid+`","reason":"e2e"}`)
	t.Cleanup(func() { revokeVia(t, `{"kind":"session","subject":"`+sid+`","lift":true}`) })
	_, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "get_quote", Arguments: map[string]any{"symbol": "ACME"}})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || !strings.Contains(string(rpcErr.Data), `"reason":"revoked"`) {
		t.Fatalf("call on the revoked session: %v", err)
	}
	callText(t, connectAs(t, "trading", token(t, bob)), "get_quote", map[string]any{"symbol": "ACME"})
}

func revokeVia(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.stack.AdminURL+"/v1/revocations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+env.stack.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation %s: HTTP %d", body, resp.StatusCode)
	}
}

// scimToken is what the e2e IdP's SCIM connector presents.
const scimToken = "e2e-scim-connector-token"

// TestSCIMDeactivationRevokesUser: the IdP's SCIM connector deactivating a
// user (PATCH active=false) revokes that user on the gateway; a request
// with the wrong bearer changes nothing.
func TestSCIMDeactivationRevokesUser(t *testing.T) {
	cs := connectAs(t, "everything", token(t, tester))
	callText(t, cs, "echo", map[string]any{"message": "before"})
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	scim := func(bearer string) int {
		req, _ := http.NewRequest(http.MethodPatch, env.stack.AdminURL+"/scim/v2/Users/qa-user", strings.NewReader(patch))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := scim("not-the-token"); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("wrong bearer answered %d", code)
	}
	callText(t, cs, "echo", map[string]any{"message": "still allowed"})
	if code := scim(scimToken); code != http.StatusOK {
		t.Fatalf("SCIM deactivation answered %d", code)
	}
	t.Cleanup(func() { liftUser(t, "qa-user") })
	if reason := callAs(t, "everything", token(t, tester), "echo", map[string]any{"message": "after"}); reason != "revoked" {
		t.Fatalf("call after SCIM deactivation: %q, want revoked", reason)
	}
}

// TestRevokeUserRevokesBrokeredAccount: revoking a user deletes the
// user's brokered accounts and revokes them at the provider (RFC 7009):
// the provider refuses the old token, and after a lift the user must
// connect again.
func TestRevokeUserRevokesBrokeredAccount(t *testing.T) {
	cs := connectAs(t, "code", token(t, coder))
	if reason, detail, _ := callErr(t, cs, "list_repos"); reason == "credential_not_connected" {
		connectAccount(t, linkRE.FindString(detail))
	}
	if reason, _, out := callErr(t, cs, "list_repos"); reason != "" || !strings.Contains(out, "qa-user2") {
		t.Fatalf("connected user: %q %q", reason, out)
	}
	hdrs := env.codeSeen.Headers()
	accountToken := hdrs[len(hdrs)-1].Get("Authorization")
	if !strings.HasPrefix(accountToken, "token ") || providerStatus(t, accountToken) != http.StatusOK {
		t.Fatalf("the provider does not accept the account token before the revocation")
	}

	revokeVia(t, `{"kind":"user","subject":"qa-user2","reason":"offboarding"}`)
	revokeVia(t, `{"kind":"user","subject":"qa-user2","lift":true}`)
	if code := providerStatus(t, accountToken); code != http.StatusUnauthorized {
		t.Fatalf("the provider still accepts the revoked account token: HTTP %d", code)
	}
	cs2 := connectAs(t, "code", token(t, coder))
	if reason, _, _ := callErr(t, cs2, "list_repos"); reason != "credential_not_connected" {
		t.Fatalf("after revocation and lift: %q, want credential_not_connected (the account was deleted)", reason)
	}
}

// providerStatus asks the code host's provider API about a credential.
func providerStatus(t *testing.T, authorization string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+env.idpAddr+devidp.APIUserPath, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
