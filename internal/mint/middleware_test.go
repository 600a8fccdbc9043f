package mint

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/actiongate/actiongate/internal/demo"
	"github.com/actiongate/actiongate/internal/mcp"
)

const prmURL = "https://mcp.example.test/.well-known/oauth-protected-resource/ehr"

func TestMiddleware(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	jwks := newJWKSServer(t, ring)
	m := newTestMinter(t, ring, clk, nil)
	v := newRemoteVerifier(t, jwks.URL, clk, nil)
	var reached atomic.Int64
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		c, ok := ClaimsFromContext(r.Context())
		body, _ := io.ReadAll(r.Body)
		if !ok || c.Subject != "dr-alice" {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(body) // proves the body was put back intact
	})
	srv := httptest.NewServer(Middleware(v, MiddlewareConfig{
		ResourceMetadata: prmURL, RequiredScope: ToolCallScope("ehr"), Logger: quietLogger(),
	}, echo))
	t.Cleanup(srv.Close)

	readChart := mustMint(t, m, testGrant()).Raw
	g := testGrant()
	g.Tool = ""
	serverOnly := mustMint(t, m, g).Raw
	g = testGrant()
	g.Audience = "https://mcp.example.test/billing"
	otherAud := mustMint(t, m, g).Raw
	call := func(tool string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`

	for _, tc := range []struct {
		name      string
		auth      []string
		body      string
		status    int
		challenge string // substring of WWW-Authenticate; "-" = none
	}{
		{"allowed tool", []string{"Bearer " + readChart}, call("read_chart"), 200, "-"},
		{"lower-case scheme", []string{"bearer " + readChart}, call("read_chart"), 200, "-"},
		{"tools/list needs no tool scope", []string{"Bearer " + readChart}, list, 200, "-"},
		{"server-scope token lists tools", []string{"Bearer " + serverOnly}, list, 200, "-"},
		{"no token", nil, call("read_chart"), 401, `Bearer resource_metadata="` + prmURL + `"`},
		{"other tool", []string{"Bearer " + readChart}, call("write_summary"), 403,
			`error="insufficient_scope", error_description="token does not grant the required scope", scope="mcp:tools:call:ehr/write_summary"`},
		{"server-scope token cannot call", []string{"Bearer " + serverOnly}, call("read_chart"), 403, `insufficient_scope`},
		{"other audience", []string{"Bearer " + otherAud}, call("read_chart"), 401, `error="invalid_token"`},
		{"garbage token", []string{"Bearer abc.def.ghi"}, call("read_chart"), 401, `error="invalid_token"`},
		{"basic scheme", []string{"Basic Zm9vOmJhcg=="}, call("read_chart"), 400, `error="invalid_request"`},
		{"two headers", []string{"Bearer " + readChart, "Bearer " + readChart}, call("read_chart"), 400, `invalid_request`},
		{"batch", []string{"Bearer " + readChart}, "[" + call("read_chart") + "]", 400, "-"},
		{"duplicate method key", []string{"Bearer " + readChart},
			`{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"write_summary"}}`, 400, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached.Load()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if tc.challenge == "-" && www != "" || tc.challenge != "-" && !strings.Contains(www, tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q", www, tc.challenge)
			}
			passed := reached.Load() > before
			if passed != (tc.status == 200) {
				t.Errorf("handler reached = %v with status %d", passed, tc.status)
			}
			if tc.status == 200 && string(body) != tc.body {
				t.Errorf("handler saw body %q", body)
			}
			if strings.Contains(string(body)+www, readChart[len(readChart)-16:]) {
				t.Error("the response echoes the token")
			}
		})
	}

	jwks.down.Store(true)
	clk.Advance(2 * time.Hour) // keys too old, JWKS down: fail closed with 503, no challenge
	fresh := mustMint(t, m, testGrant()).Raw
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(call("read_chart")))
	req.Header.Set("Authorization", "Bearer "+fresh)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("JWKS unavailable: %d %q, want 503 without a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// mintingTransport plays the gateway for an upstream: for every request it
// reads the JSON-RPC body and injects a token minted for exactly that
// message (the tool for tools/call, the server scope otherwise); tool, if
// set, overrides the tool it mints for (to test a mismatch).
type mintingTransport struct {
	t      *testing.T
	minter *Minter
	tool   string
}

func (tr *mintingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	g := testGrant()
	g.Tool = ""
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if msg, err := mcp.Parse(body, 0); err == nil && msg.IsToolCall() {
			g.Tool = msg.ToolName
		}
	}
	if tr.tool != "" && g.Tool != "" {
		g.Tool = tr.tool
	}
	tok, err := tr.minter.Mint(g)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok.Raw)
	return http.DefaultTransport.RoundTrip(r)
}

// TestMiddleware_RealMCPServer puts the middleware in front of a real MCP
// server (the demo ehr server, official Go SDK) and drives it with the
// SDK's client: a token minted for the called tool works end to end; a
// token minted for another tool is refused before the server sees it.
func TestMiddleware_RealMCPServer(t *testing.T) {
	t.Parallel()
	ring, err := LoadKeyRing(t.TempDir(), KeyRingOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMinter(MinterConfig{Issuer: testIssuer, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testResource, JWKSURL: newJWKSServer(t, ring).URL, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mcpSrv, err := demo.NewServer("ehr")
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(Middleware(v, MiddlewareConfig{RequiredScope: ToolCallScope("ehr"), Logger: quietLogger()},
		demo.Handler(mcpSrv, demo.ModeJSON|demo.ModeStateless)))
	t.Cleanup(upstream.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect := func(tool string) *mcpsdk.ClientSession {
		client := mcpsdk.NewClient(&mcpsdk.Implementation{Name: "mint-test", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcpsdk.StreamableClientTransport{
			Endpoint: upstream.URL + demo.Path, MaxRetries: -1,
			HTTPClient: &http.Client{Transport: &mintingTransport{t: t, minter: m, tool: tool}},
		}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}

	cs := connect("")
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("tools/list with a server-scope token: %v", err)
	}
	res, err := cs.CallTool(ctx, &mcpsdk.CallToolParams{Name: "read_chart", Arguments: map[string]any{"patient_id": "P-1001"}})
	if err != nil || res.IsError {
		t.Fatalf("read_chart with its own token: %v %+v", err, res)
	}

	wrong := connect("read_chart") // every tools/call carries a read_chart token
	if _, err := wrong.CallTool(ctx, &mcpsdk.CallToolParams{Name: "write_summary",
		Arguments: map[string]any{"patient_id": "P-1001", "summary": "x"}}); err == nil || !strings.Contains(err.Error(), http.StatusText(http.StatusForbidden)) {
		t.Fatalf("write_summary with a token minted for read_chart: %v, want a 403", err)
	}
}
