package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// contentTypes records the media type of every POST response that carried
// a body, so a test can check the mode really changed the wire format.
type contentTypes struct {
	base     http.RoundTripper
	mu       sync.Mutex
	seen     []string
	sessions int // responses carrying Mcp-Session-Id
}

func (c *contentTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	mt, _, perr := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if perr != nil {
		mt = "unparseable:" + resp.Header.Get("Content-Type")
	}
	c.mu.Lock()
	c.seen = append(c.seen, mt)
	if resp.Header.Get("Mcp-Session-Id") != "" {
		c.sessions++
	}
	c.mu.Unlock()
	return resp, nil
}

func (c *contentTypes) all() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen), c.sessions
}

type call struct {
	tool string
	args map[string]any
	want []string // substrings of the text result
}

var calls = map[string][]call{
	"ehr": {
		{"read_chart", map[string]any{"patient_id": "P-1001"}, []string{"Chart for patient P-1001", "Medications:"}},
		{"write_summary", map[string]any{"patient_id": "P-1001", "summary": "Stable."}, []string{"summary stored", "P-1001"}},
	},
	"trading": {
		{"get_quote", map[string]any{"symbol": "ACME"}, []string{"ACME last price " + usd(priceCents("ACME")) + " USD"}},
		{"place_trade", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 10, "account": "ACC-7"},
			[]string{"order ORD-000001 accepted", "buy 10 ACME", "account ACC-7", "notional " + usd(10*priceCents("ACME"))}},
		{"list_positions", map[string]any{}, []string{"Open positions:", "- ACME: 1200 shares"}},
	},
	"mail": {
		{"read_inbox", map[string]any{}, []string{"Invoice INV-2291", InjectionText, "From: dana.lee@example.com"}},
		{"send_email", map[string]any{"to": "dana.lee@example.com", "subject": "Re: Q3", "body": "Thursday works."}, []string{"sent"}},
	},
}

func TestServersOverRealSockets(t *testing.T) {
	t.Parallel()
	for _, id := range IDs() {
		for _, mode := range []Mode{ModeJSON, ModeSSE, ModeJSON | ModeStateless, ModeSSE | ModeStateless} {
			for _, version := range []string{"2026-07-28", "2025-06-18"} {
				t.Run(fmt.Sprintf("%s/%s/%s", id, mode, version), func(t *testing.T) {
					t.Parallel()
					exerciseServer(t, id, mode, version)
				})
			}
		}
	}
}

func exerciseServer(t *testing.T, id string, mode Mode, version string) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	run, err := Start("", id, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if !strings.HasPrefix(run.URL, "http://127.0.0.1:") || !strings.HasSuffix(run.URL, "/mcp") {
		t.Fatalf("URL = %q, want http://127.0.0.1:<port>/mcp", run.URL)
	}
	ct := &contentTypes{base: http.DefaultTransport}
	cs := connect(ctx, t, run.URL, ct, version)

	want := version
	if mode&ModeStateless == 0 && version >= "2026-07-28" {
		want = "2025-11-25" // sessions exist only up to 2025-11-25
	}
	if got := cs.InitializeResult().ProtocolVersion; got != want {
		t.Errorf("negotiated protocol %q, want %q", got, want)
	}
	listed, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	assertListedMatchesCatalog(t, id, listed.Tools)
	for _, c := range calls[id] {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatalf("%s: %v", c.tool, err)
		}
		got := resultText(t, res)
		if res.IsError {
			t.Fatalf("%s: isError, text %q", c.tool, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: result %q lacks %q", c.tool, got, w)
			}
		}
	}
	seen, sessions := ct.all()
	assertContentTypes(t, mode, seen)
	if stateless := mode&ModeStateless != 0; stateless != (sessions == 0) {
		t.Errorf("%d responses carried Mcp-Session-Id in mode %s", sessions, mode)
	}
}

func connect(ctx context.Context, t *testing.T, url string, rt http.RoundTripper, version string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "demo-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1}
	cs, err := client.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func assertContentTypes(t *testing.T, mode Mode, seen []string) {
	t.Helper()
	want := "application/json"
	if mode&ModeSSE != 0 {
		want = "text/event-stream"
	}
	// initialize or discover, tools/list and at least two calls.
	if len(seen) < 4 {
		t.Fatalf("observed %d POST responses with a body (%v), want at least 4", len(seen), seen)
	}
	for i, got := range seen {
		if got != want {
			t.Errorf("POST response %d has Content-Type %q, want %q (all: %v)", i, got, want, seen)
		}
	}
}

func assertListedMatchesCatalog(t *testing.T, id string, listed []*mcp.Tool) {
	t.Helper()
	defs, err := Tools(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(defs) {
		t.Fatalf("tools/list has %d tools, catalog %d", len(listed), len(defs))
	}
	byName := map[string]*mcp.Tool{}
	for _, tl := range listed {
		byName[tl.Name] = tl
	}
	for _, d := range defs {
		got, ok := byName[d.Name]
		if !ok {
			t.Errorf("tools/list lacks %s", d.Name)
			continue
		}
		if got.Description != d.Description {
			t.Errorf("%s description %q, want %q", d.Name, got.Description, d.Description)
		}
		if !sameJSON(t, got.InputSchema, d.InputSchema) {
			t.Errorf("%s inputSchema on the wire differs from the catalog", d.Name)
		}
		if got.Annotations == nil || got.Annotations.ReadOnlyHint != d.Annotations.ReadOnlyHint {
			t.Errorf("%s annotations %+v, want %+v", d.Name, got.Annotations, d.Annotations)
		}
	}
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	norm := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(x) // map keys come out sorted
		return string(out)
	}
	return norm(a) == norm(b)
}

func resultText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var parts []string
	for _, c := range res.Content {
		tc, ok := c.(*mcp.TextContent)
		if !ok {
			t.Fatalf("content %T, want text", c)
		}
		parts = append(parts, tc.Text)
	}
	return strings.Join(parts, "\n")
}

func TestInvalidArgumentsAreToolErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	run, err := Start("", "trading", ModeJSON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Close() })
	cs := connect(ctx, t, run.URL, http.DefaultTransport, "")
	cases := []struct {
		name string
		args map[string]any
	}{
		{"zero quantity", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 0, "account": "A"}},
		{"fractional quantity", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 1.5, "account": "A"}},
		{"bad side", map[string]any{"symbol": "ACME", "side": "short", "quantity": 1, "account": "A"}},
		{"missing account", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 1}},
		{"extra field", map[string]any{"symbol": "ACME", "side": "buy", "quantity": 1, "account": "A", "price": 1}},
		{"lowercase symbol", map[string]any{"symbol": "acme", "side": "buy", "quantity": 1, "account": "A"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "place_trade", Arguments: tc.args})
			if err != nil {
				return // a protocol-level rejection is also a refusal
			}
			if !res.IsError {
				t.Fatalf("accepted invalid order: %q", resultText(t, res))
			}
		})
	}
}

// TestHostHeader pins the DNS-rebinding behaviour the gateway relies on: the
// loopback Host a local proxy sends is served, a foreign one is refused.
func TestHostHeader(t *testing.T) {
	t.Parallel()
	run, err := Start("", "mail", ModeJSON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Close() })
	port := run.Addr[strings.LastIndex(run.Addr, ":"):]
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1" + port, http.StatusOK},
		{"localhost" + port, http.StatusOK},
		{"attacker.example" + port, http.StatusForbidden},
	} {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			if got := postInitialize(t, run.URL, tc.host); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
}

func postInitialize(t *testing.T, url, host string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestModeString(t *testing.T) {
	t.Parallel()
	for mode, want := range map[Mode]string{
		ModeJSON: "json", ModeSSE: "sse", ModeJSON | ModeStateless: "json+stateless",
		ModeSSE | ModeStateless: "sse+stateless", Mode(8): "Mode(8)",
	} {
		if got := mode.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(mode), got, want)
		}
	}
}

func TestUnknownServer(t *testing.T) {
	t.Parallel()
	if _, err := NewServer("payroll"); err == nil || !strings.Contains(err.Error(), `"payroll"`) {
		t.Fatalf("NewServer(payroll) error = %v, want unknown server id", err)
	}
	if _, err := Start("", "payroll", ModeJSON); err == nil {
		t.Fatal("Start(payroll) succeeded")
	}
	if _, err := Tools("payroll"); err == nil {
		t.Fatal("Tools(payroll) succeeded")
	}
	if _, err := QuickstartAddr("payroll"); err == nil {
		t.Fatal("QuickstartAddr(payroll) succeeded")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, "ehr", ModeSSE) }()
	if got := postInitialize(t, "http://"+l.Addr().String()+Path, l.Addr().String()); got != http.StatusOK {
		t.Fatalf("initialize status %d", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
