package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/mcp"
)

var (
	coder       = as{"qa-user2", "e2e-tester", "northwind"}
	notConnUser = as{"qa-user", "e2e-tester", "northwind"}
)

func lastUpstream(t *testing.T) seenRequest {
	t.Helper()
	reqs := env.upstream.all()
	if len(reqs) == 0 {
		t.Fatal("the upstream saw no request")
	}
	return reqs[len(reqs)-1]
}

// TestUpstreamSeesMintedToken: the upstream receives a token minted for
// this call (user, acting agent, this tool's scope, its own audience,
// the decision id), verified against the gateway's JWKS, never the
// agent's token.
func TestUpstreamSeesMintedToken(t *testing.T) {
	tok := token(t, alice)
	cs := connectAs(t, "ehr", tok)
	callText(t, cs, "read_chart", map[string]any{"patient_id": "p-1001"})
	seen := lastUpstream(t)
	c := seen.claims
	if strings.Contains(seen.authorization, tok) || !strings.HasPrefix(seen.authorization, "Bearer ") {
		t.Fatal("the upstream received the agent's own token")
	}
	if c.Subject != "dr-alice" || c.ClientID != "note-summarizer" || c.Scope != "mcp:tools:call:ehr/read_chart" ||
		c.DecisionID == "" || c.Tenant != "st-marys" || len(c.Audience) != 1 || c.Audience[0] != env.demos["ehr"].URL ||
		c.ExpiresAt.Sub(c.IssuedAt) > 5*time.Minute {
		t.Fatalf("minted claims %+v", c)
	}
}

// TestUpstreamRefusesForeignTokens: an upstream that checks refuses a
// minted token for another audience, an expired one, and the agent's own.
func TestUpstreamRefusesForeignTokens(t *testing.T) {
	agentTok := token(t, alice)
	callText(t, connectAs(t, "ehr", agentTok), "read_chart", map[string]any{"patient_id": "p-1001"})
	captured := strings.TrimPrefix(lastUpstream(t).authorization, "Bearer ")

	// A token exchanged out of band for the mail server (RFC 8693).
	mailTok := exchange(t, token(t, staff), env.demos["mail"].URL, "mail/read_inbox")
	tests := []struct{ name, bearer, wantErr string }{
		{"agent's own token", agentTok, "invalid_token"},
		{"minted for another audience", mailTok, "invalid_token"},
	}
	for _, tc := range tests {
		if code, www := directCall(t, tc.bearer); code != http.StatusUnauthorized || !strings.Contains(www, tc.wantErr) {
			t.Errorf("%s: %d %q", tc.name, code, www)
		}
	}
	if code, _ := directCall(t, captured); code == http.StatusUnauthorized {
		t.Fatal("a fresh minted token for this upstream was refused: the test cannot tell expiry apart")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, www := directCall(t, captured)
		if code == http.StatusUnauthorized && strings.Contains(www, "invalid_token") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minted token still accepted 10s after minting (lifetime 3s): %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// directCall posts a tools/call straight to the ehr upstream (bypassing the
// gateway) and returns the status and WWW-Authenticate.
func directCall(t *testing.T, bearer string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p-1001"}}}`
	resp := post(t, env.demos["ehr"].URL, body, "Authorization", "Bearer "+bearer)
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// exchange gets a token for server/tool from the admin API (RFC 8693).
func exchange(t *testing.T, subjectToken, resource, scopeTool string) string {
	t.Helper()
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {subjectToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"resource":           {resource},
		"scope":              {"mcp:tools:call:" + scopeTool},
	}
	resp, err := http.PostForm(env.stack.AdminURL+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.AccessToken == "" {
		t.Fatalf("token exchange: %d %s %v", resp.StatusCode, out.Error, err)
	}
	return out.AccessToken
}

// TestKeyRotationInFlight: rotating the signing key while calls run fails
// none of them; once the new key is active, upstreams verify tokens signed
// with it.
func TestKeyRotationInFlight(t *testing.T) {
	tok := token(t, alice)
	cs := connectAs(t, "ehr", tok)
	kid := func() string { return jwtKid(t, strings.TrimPrefix(lastUpstream(t).authorization, "Bearer ")) }
	callText(t, cs, "read_chart", map[string]any{"patient_id": "p-1001"})
	before := kid()

	var failures, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "read_chart", Arguments: map[string]any{"patient_id": "p-1001"}})
				calls.Add(1)
				if err != nil || res.IsError {
					failures.Add(1)
				}
			}
		}()
	}
	if _, err := env.stack.App.KeyRing().Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	// Traffic runs until the upstream has verified a token signed with the
	// new key (activation after the 300 ms propagation delay), then for as
	// many calls again: calls span before, during and after the switch.
	deadline := time.Now().Add(10 * time.Second)
	for kid() == before {
		if time.Now().After(deadline) {
			t.Fatalf("tokens still signed with %s 10 s after the rotation (propagation 300 ms)", before)
		}
		time.Sleep(5 * time.Millisecond) // polling the upstream's log, bounded by deadline
	}
	for target := 2 * calls.Load(); calls.Load() < target && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || calls.Load() < 10 {
		t.Fatalf("%d of %d calls failed across the rotation", failures.Load(), calls.Load())
	}
	t.Logf("%d calls across the rotation, none failed", calls.Load())
}

func jwtKid(t *testing.T, raw string) string {
	t.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.Kid == "" {
		t.Fatalf("token header %s", b)
	}
	return hdr.Kid
}

// callErr calls a tool and returns the gateway's denial (reason, detail),
// or the result text.
func callErr(t *testing.T, cs *mcpsdk.ClientSession, tool string) (string, string, string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: tool, Arguments: map[string]any{}})
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		var data mcp.ErrorData
		_ = json.Unmarshal(rpcErr.Data, &data)
		return data.Reason, data.Detail, ""
	}
	if err != nil {
		t.Fatalf("tools/call %s: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcpsdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		return "tool_error", b.String(), ""
	}
	return "", "", b.String()
}

var linkRE = regexp.MustCompile(`https?://[^\s,]+/connect/[^\s,]+`)

// TestBrokeredCredential: a user who has not connected the code host is
// told so, with a link; after the connect flow (authorization code + PKCE
// at the real OAuth provider) the user's own account token is injected
// and the code host's provider accepts it. Another user stays refused.
func TestBrokeredCredential(t *testing.T) {
	cs := connectAs(t, "code", token(t, coder))
	reason, detail, _ := callErr(t, cs, "list_repos")
	link := linkRE.FindString(detail)
	if reason != "credential_not_connected" || link == "" {
		t.Fatalf("unconnected user: reason %q detail %q", reason, detail)
	}
	connectAccount(t, link)
	reason, detail, out := callErr(t, cs, "list_repos")
	if reason != "" || !strings.Contains(out, "repositories of qa-user2") {
		t.Fatalf("after connecting: %q %q %q", reason, detail, out)
	}
	other := connectAs(t, "code", token(t, notConnUser))
	if reason, _, _ := callErr(t, other, "list_repos"); reason != "credential_not_connected" {
		t.Fatalf("a user who never connected got %q", reason)
	}
}

// connectAccount follows a connect link as the user's browser would.
func connectAccount(t *testing.T, link string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("connect flow ended %d at %s: %s", resp.StatusCode, resp.Request.URL.Redacted(), body)
	}
}

// TestCanaryNeverLeaks: a code host that reflects its request headers
// gets the call's minted token and the user's brokered token; neither
// reaches the agent, the gateway's logs, or the Kafka audit stream.
func TestCanaryNeverLeaks(t *testing.T) {
	cs := connectAs(t, "code", token(t, coder))
	if reason, _, _ := callErr(t, cs, "list_repos"); reason == "credential_not_connected" {
		connectAccount(t, linkRE.FindString(func() string { _, d, _ := callErr(t, cs, "list_repos"); return d }()))
	}
	_, _, out := callErr(t, cs, "debug_request")
	hdrs := env.codeSeen.Headers()
	last := hdrs[len(hdrs)-1]
	var canaries []string
	for _, name := range []string{"Authorization", "X-Actiongate-Token"} {
		v := last.Get(name)
		_, secret, _ := strings.Cut(v, " ")
		if len(secret) < 16 {
			t.Fatalf("upstream header %s = %q: no credential was injected", name, v)
		}
		canaries = append(canaries, secret)
	}
	if out == "" || !strings.Contains(out, "[REDACTED:credential]") {
		t.Fatalf("debug_request output does not show the redaction:\n%s", out)
	}
	entries, err := audit.ReadEvents(context.Background(), env.stack.Kafka.Brokers, audit.DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	var stream strings.Builder
	for _, e := range entries {
		stream.Write(e.Raw)
	}
	for i, c := range canaries {
		for where, text := range map[string]string{"agent response": out, "gateway logs": env.logs.String(), "audit stream": stream.String()} {
			if strings.Contains(text, c) {
				t.Errorf("canary %d leaked into the %s", i, where)
			}
		}
	}
}
