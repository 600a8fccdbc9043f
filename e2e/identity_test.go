package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/mcp"
)

// callAs makes one tools/call with the SDK client and returns the gateway's
// reason code for a denial ("" when the call went through).
func callAs(t *testing.T, server, tok, tool string, args map[string]any) string {
	t.Helper()
	// A principal the gateway refuses cannot even initialize a session;
	// the denial then arrives on initialize.
	var res *mcpsdk.CallToolResult
	cs, err := dial(server, tok)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
		res, err = cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: tool, Arguments: args})
	}
	var rpcErr *jsonrpc.Error
	switch {
	case errors.As(err, &rpcErr):
		var data mcp.ErrorData
		if json.Unmarshal(rpcErr.Data, &data) != nil || data.DecisionID == "" {
			t.Fatalf("denial without reason or decision id: %d %q %s", rpcErr.Code, rpcErr.Message, rpcErr.Data)
		}
		return data.Reason
	case err != nil:
		t.Fatalf("tools/call %s: %v", tool, err)
	case res.IsError:
		var meta mcp.ErrorData
		b, _ := json.Marshal(res.Meta)
		_ = json.Unmarshal(b, &meta)
		if meta.Reason != "" {
			return meta.Reason
		}
		t.Fatalf("tool error from upstream: %v", res.Content)
	}
	return ""
}

// TestDelegatedAuthorization: every call is bound to user ∩ agent ∩ tool ∩
// tenant, with tokens from the real OpenID Provider and the decision of
// the real SpiceDB and OPA policy.
func TestDelegatedAuthorization(t *testing.T) {
	chart := map[string]any{"patient_id": "p-1001"}
	tests := []struct {
		name       string
		who        as
		server     string
		tool       string
		args       map[string]any
		wantReason string
	}{
		{"physician through the summarizer reads a chart", alice, "ehr", "read_chart", chart, ""},
		{"an agent outside the user's tenant", as{"trader-bob", "note-summarizer", "northwind"}, "ehr", "read_chart", chart, "tenant_mismatch"},
		{"a user the agent does not act for", as{"qa-user", "trade-executor", "northwind"}, "trading", "get_quote", map[string]any{"symbol": "ACME"}, "user_not_approved"},
		{"an agent without the tool", as{"staff-member", "inbox-assistant", "st-marys"}, "ehr", "read_chart", chart, "tool_out_of_agent_scope"},
		{"an agent the registry does not know", as{"dr-alice", "rogue-agent", "st-marys"}, "ehr", "read_chart", chart, "unknown_agent"},
		{"tier-1 write waits for approval", alice, "ehr", "write_summary", map[string]any{"patient_id": "p-1001", "summary": "stable"}, "approval_required"},
		{"trade within limits", bob, "trading", "place_trade", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 10, "account": "ACC-1"}, ""},
		{"trade over the limit", bob, "trading", "place_trade", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 100000, "account": "ACC-1"}, "approval_required"},
		{"argument outside the pinned schema", bob, "trading", "place_trade", map[string]any{"symbol": "ACME", "side": "hold", "quantity": 1, "account": "ACC-1"}, "invalid_arguments"},
		{"undeclared extra argument", alice, "ehr", "read_chart", map[string]any{"patient_id": "p-1001", "forward_to": "attacker@evil.example"}, "invalid_arguments"},
		{"restricted instrument", bob, "trading", "place_trade", map[string]any{"symbol": "RSTR", "side": "buy", "quantity": 1, "account": "ACC-1"}, "policy_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := env.stack.Token(context.Background(), tc.who.user, tc.who.agent, tc.who.tenant)
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if got := callAs(t, tc.server, tok, tc.tool, tc.args); got != tc.wantReason {
				t.Fatalf("reason %q, want %q", got, tc.wantReason)
			}
		})
	}
}

// TestUnauthenticated: requests without a valid token for this gateway get
// 401 with a pointer to the protected-resource metadata, and never reach
// the upstream.
func TestUnauthenticated(t *testing.T) {
	ctx := context.Background()
	other, err := devidp.Start(ctx, devidp.Options{Users: []devidp.User{{Subject: "dr-alice", Tenant: "st-marys"}},
		Agents: []devidp.Agent{{ClientID: "note-summarizer", ClientSecret: devidp.DevSecret("note-summarizer")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	foreign, err := devidp.Token(ctx, other.Issuer, "dr-alice", "note-summarizer", devidp.DevSecret("note-summarizer"), "st-marys")
	if err != nil {
		t.Fatal(err)
	}
	wrongAud := agentOwnToken(t, "note-summarizer") // aud is the agent itself, not this gateway
	good := token(t, alice)
	tampered := good[:len(good)-4] + flip(good[len(good)-4:])
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p-1001"}}}`
	for name, auth := range map[string]string{
		"no token":       "",
		"not bearer":     "Basic ZHI6YWxpY2U=",
		"unknown issuer": "Bearer " + foreign,
		"wrong audience": "Bearer " + wrongAud,
		"tampered":       "Bearer " + tampered,
		"garbage":        "Bearer not-a-jwt",
	} {
		t.Run(name, func(t *testing.T) {
			var hdr []string
			if auth != "" {
				hdr = []string{"Authorization", auth}
			}
			resp := post(t, env.stack.MCPURL("ehr"), body, hdr...)
			b := readBody(t, resp)
			want := `Bearer resource_metadata="` + env.stack.MCPURL("")
			want = strings.Replace(want, "/mcp/", "/.well-known/oauth-protected-resource/mcp/ehr", 1)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), want) {
				t.Fatalf("status %d www-authenticate %q body %s; want 401 pointing at %s", resp.StatusCode,
					resp.Header.Get("WWW-Authenticate"), b, want)
			}
			if strings.Contains(string(b), "p-1001") || strings.Contains(string(b), "Chart for") {
				t.Fatal("the upstream answered an unauthenticated call")
			}
		})
	}
}

// TestExpiredToken: a token past its exp is refused. The gateway also
// trusts a second dev IdP that issues two-second tokens; the test shows
// one accepted, then polls until it is refused.
func TestExpiredToken(t *testing.T) {
	tok, err := devidp.Token(context.Background(), env.shortIdP.Issuer, "dr-alice", "note-summarizer",
		devidp.DevSecret("note-summarizer"), "st-marys")
	if err != nil {
		t.Fatal(err)
	}
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	if resp := post(t, env.stack.MCPURL("ehr"), list, "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("a fresh short-lived token: status %d, want 200", resp.StatusCode)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(45 * time.Second) // TTL + verifier leeway + margin
	for range tick.C {
		resp := post(t, env.stack.MCPURL("ehr"), list, "Authorization", "Bearer "+tok)
		if resp.StatusCode == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an expired token is still accepted (status %d)", resp.StatusCode)
		}
	}
}

// agentOwnToken is the agent's client-credentials token from the gateway's
// own IdP: genuine, but issued for the agent, not for this gateway.
func agentOwnToken(t *testing.T, agent string) string {
	t.Helper()
	resp, err := http.Get(env.stack.IdP.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.Unmarshal(readBody(t, resp), &disc); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, disc.TokenEndpoint, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(agent, devidp.DevSecret(agent))
	tr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(readBody(t, tr), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("client credentials: status %d, %v", tr.StatusCode, err)
	}
	return tok.AccessToken
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// TestRateLimited: the tool's shared bucket (2 per minute, in Redis) runs
// out and the gateway answers rate_limited with when to retry; the call
// never reaches the upstream.
func TestRateLimited(t *testing.T) {
	cs := connect(t, "everything")
	for i := 0; i < 4; i++ {
		_, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "get-annotated-message",
			Arguments: map[string]any{"messageType": "success"}})
		var rpcErr *jsonrpc.Error
		if errors.As(err, &rpcErr) {
			var data mcp.ErrorData
			_ = json.Unmarshal(rpcErr.Data, &data)
			if data.Reason != "rate_limited" || !strings.Contains(data.Detail, "tool limit reached; retry after") {
				t.Fatalf("call %d: denial %s, want rate_limited naming the tool bucket", i, rpcErr.Data)
			}
			return
		}
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	t.Fatal("4 calls within a second passed a 2-per-minute limit")
}
