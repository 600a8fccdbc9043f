package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/registry"
)

// as is who an e2e call is made for and through.
type as struct{ user, agent, tenant string }

var (
	alice  = as{"dr-alice", "note-summarizer", "st-marys"}
	bob    = as{"trader-bob", "trade-executor", "northwind"}
	tester = as{"qa-user", "e2e-tester", "northwind"}
)

// serverAgent is who the tests that are not about identity call as.
var serverAgent = map[string]as{"ehr": alice, "trading": bob, "everything": tester}

// token gets a delegated access token from the real dev IdP.
func token(t *testing.T, who as) string {
	t.Helper()
	tok, err := env.stack.Token(context.Background(), who.user, who.agent, who.tenant)
	if err != nil {
		t.Fatalf("token for %s via %s: %v", who.user, who.agent, err)
	}
	return tok
}

// bearer adds the Authorization header to every request of an SDK client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// connect opens an MCP session through the gateway with the official SDK
// client, exactly as an agent would, with a token for the server's usual
// caller.
func connect(t *testing.T, server string) *mcpsdk.ClientSession {
	t.Helper()
	return connectAs(t, server, token(t, serverAgent[server]))
}

func connectAs(t *testing.T, server, tok string) *mcpsdk.ClientSession {
	t.Helper()
	cs, err := dial(server, tok)
	if err != nil {
		t.Fatalf("connect to %s through the gateway: %v", server, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func dial(server, tok string) (*mcpsdk.ClientSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcpsdk.NewClient(&mcpsdk.Implementation{Name: "e2e-agent", Version: "1.0.0"}, nil)
	hc := &http.Client{Transport: bearer{token: tok, next: http.DefaultTransport}}
	return client.Connect(ctx, &mcpsdk.StreamableClientTransport{Endpoint: env.stack.MCPURL(server), HTTPClient: hc}, nil)
}

func callText(t *testing.T, cs *mcpsdk.ClientSession, tool string, args map[string]any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", tool, err)
	}
	if res.IsError {
		t.Fatalf("tools/call %s: tool error %v", tool, res.Content)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcpsdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func toolNames(t *testing.T, cs *mcpsdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// TestAllowedCall_JSONUpstream: tools/list and an allowed tools/call reach
// an SDK server answering application/json.
func TestAllowedCall_JSONUpstream(t *testing.T) {
	cs := connect(t, "ehr")
	if names := toolNames(t, cs); !contains(names, "read_chart") {
		t.Fatalf("tools/list = %v, want read_chart", names)
	}
	if got := callText(t, cs, "read_chart", map[string]any{"patient_id": "p-1001"}); !strings.Contains(got, "p-1001") {
		t.Errorf("read_chart result %q does not mention the patient", got)
	}
}

// TestAllowedCall_SSEUpstream: a session-based SDK server answering with
// text/event-stream, its stream cut into random chunks by the data plane.
func TestAllowedCall_SSEUpstream(t *testing.T) {
	const chunks = `actiongate_extproc_messages_total{phase="response_body"}`
	before := metric(t, chunks)
	cs := connect(t, "trading")
	for i := 0; i < 3; i++ { // several calls on one session
		if got := callText(t, cs, "get_quote", map[string]any{"symbol": "ACME"}); !strings.Contains(got, "ACME") {
			t.Fatalf("get_quote result %q does not mention the symbol", got)
		}
	}
	// Each SSE response is hundreds of bytes cut into chunks of at most 64:
	// ext_proc must have seen many response_body messages, not one.
	if n := metric(t, chunks) - before; n < 12 {
		t.Errorf("ext_proc saw %v streamed response chunks for 3 SSE calls; the stream did not cross ext_proc in pieces", n)
	}
}

// TestReferenceServer: an upstream nobody here wrote (the npm reference
// server) works through the gateway.
func TestReferenceServer(t *testing.T) {
	cs := connect(t, "everything")
	if got := callText(t, cs, "echo", map[string]any{"message": "hello gateway"}); !strings.Contains(got, "hello gateway") {
		t.Errorf("echo = %q", got)
	}
	if got := callText(t, cs, "get-sum", map[string]any{"a": 2, "b": 40}); !strings.Contains(got, "42") {
		t.Errorf("get-sum = %q", got)
	}
}

// TestUnregisteredToolDenied: a tool the server offers but the registry
// does not list is refused with a JSON-RPC error the client surfaces, and
// the session keeps working.
func TestUnregisteredToolDenied(t *testing.T) {
	cs := connect(t, "everything")
	_, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "get-env", Arguments: map[string]any{}})
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) {
		t.Fatalf("calling an unregistered tool: err = %v, want a JSON-RPC error", err)
	}
	var data mcp.ErrorData
	_ = json.Unmarshal(rpcErr.Data, &data)
	if rpcErr.Code != mcp.CodePolicyDenied || data.Reason != "unknown_tool" || data.DecisionID == "" {
		t.Fatalf("denial = code %d %q data %s; want %d, reason unknown_tool, a decision id", rpcErr.Code, rpcErr.Message, rpcErr.Data, mcp.CodePolicyDenied)
	}
	if got := callText(t, cs, "echo", map[string]any{"message": "still here"}); !strings.Contains(got, "still here") {
		t.Errorf("the session did not survive the denial: %q", got)
	}
}

// TestShadowServerHasNoRoute: a server the registry does not name has no
// route: the data plane answers 404 and never asks ext_authz.
func TestShadowServerHasNoRoute(t *testing.T) {
	resp := post(t, "http://"+env.stack.DataPlane+"/mcp/shadow", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unregistered server: status %d, want 404", resp.StatusCode)
	}
	// A prefix of a registered route is not that route either.
	if resp := post(t, env.stack.MCPURL("ehr")+"-admin", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/mcp/ehr-admin: status %d, want 404", resp.StatusCode)
	}
}

// TestSmuggledToolNameDenied: a body with a duplicate key, read one way by
// one parser and another way by the next, is refused as malformed.
func TestSmuggledToolNameDenied(t *testing.T) {
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"read_chart","name":"write_summary","arguments":{"patient_id":"p-1"}}}`
	resp := post(t, env.stack.MCPURL("ehr"), body, "Authorization", "Bearer "+token(t, alice))
	b := readBody(t, resp)
	var rpc struct {
		Error struct {
			Code int           `json:"code"`
			Data mcp.ErrorData `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &rpc); err != nil {
		t.Fatalf("status %d body %q: %v", resp.StatusCode, b, err)
	}
	if resp.StatusCode != http.StatusBadRequest || rpc.Error.Data.Reason != "malformed_request" ||
		!strings.Contains(rpc.Error.Data.Detail, "duplicate_key") {
		t.Fatalf("status %d body %s; want 400 malformed_request naming the duplicate key", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
}

// TestRegistryEditTakesEffect: adding a tool to the registry on disk makes
// it callable without a restart.
func TestRegistryEditTakesEffect(t *testing.T) {
	cs := connect(t, "everything")
	if _, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "get-tiny-image"}); err == nil {
		t.Fatal("get-tiny-image is not registered yet and must be denied")
	}
	before := env.stack.App.Watcher.Current().Version
	extra := `    - name: get-tiny-image
      title: Get Tiny Image Tool
      description: Returns a tiny MCP logo image.
      risk: low
` + everythingHints + `
      inputSchema: {$schema: "http://json-schema.org/draft-07/schema#", type: object, properties: {}}
`
	writeEverything(t, extra)
	waitForNewRegistry(t, before)
	t.Cleanup(func() { // leave the shared registry as it was
		v := env.stack.App.Watcher.Current().Version
		writeEverything(t, "")
		waitForNewRegistry(t, v)
	})
	res, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "get-tiny-image"})
	if err != nil || res.IsError {
		t.Fatalf("after the edit get-tiny-image must be allowed: %v %v", err, res)
	}
}

func post(t *testing.T, url, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// metric reads one sample from the gateway's admin /metrics endpoint.
func metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + env.stack.App.Addr("admin") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	return 0
}

func writeEverything(t *testing.T, extra string) {
	t.Helper()
	path := filepath.Join(env.registryDir, "servers", "everything.yaml")
	if err := os.WriteFile(path, []byte(everythingRegistry(env.everything.URL, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitForNewRegistry polls until the watcher serves a version other than
// before; the poll interval of the environment is 100 ms.
func waitForNewRegistry(t *testing.T, before registry.Version) {
	t.Helper()
	w := env.stack.App.Watcher
	deadline := time.Now().Add(20 * time.Second)
	for w.Current().Version == before {
		if time.Now().After(deadline) {
			t.Fatalf("registry change not picked up within 20s (last error: %v)", w.LastError())
		}
		if err := w.Reload(); err != nil {
			t.Fatalf("the edited registry is invalid: %v", err)
		}
	}
}

// TestProtectedResourceMetadata: RFC 9728 metadata is reachable through the
// data plane without a token, for registered servers only.
func TestProtectedResourceMetadata(t *testing.T) {
	base := "http://" + env.stack.DataPlane + "/.well-known/oauth-protected-resource/mcp/"
	resp, err := http.Get(base + "ehr")
	if err != nil {
		t.Fatal(err)
	}
	b := readBody(t, resp)
	var doc struct {
		Resource string `json:"resource"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &doc) != nil || doc.Resource != env.stack.MCPURL("ehr") {
		t.Fatalf("metadata for ehr: %d %s; want resource %s", resp.StatusCode, b, env.stack.MCPURL("ehr"))
	}
	if resp, err := http.Get(base + "shadow"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("metadata for an unregistered server: %v %v, want 404", resp, err)
	}
}

// TestToolsListFiltered: an agent sees exactly the registered tools it may
// use whose upstream definition matches the registry — over JSON (ehr) and
// SSE (trading) responses — and never a tool the registry does not list.
func TestToolsListFiltered(t *testing.T) {
	tests := []struct {
		server string
		want   []string
	}{
		{"ehr", []string{"read_chart", "write_summary"}},
		{"trading", []string{"get_quote", "list_positions", "place_trade"}},
	}
	for _, tc := range tests {
		t.Run(tc.server, func(t *testing.T) {
			got := toolNames(t, connect(t, tc.server))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("tools/list = %v, want %v", got, tc.want)
			}
		})
	}
	if names := toolNames(t, connect(t, "everything")); contains(names, "get-env") {
		t.Fatalf("tools/list of the reference server shows get-env, which the registry does not list: %v", names)
	}
}
