package mcp

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

const absent = "\x00absent" // header value meaning "leave this header out"

// post builds a POST with Content-Type application/json plus the given
// header name/value pairs (absent removes one).
func post(body string, kv ...string) HTTPRequest {
	h := map[string]string{"content-type": "application/json"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == absent {
			delete(h, kv[i])
			continue
		}
		h[kv[i]] = kv[i+1]
	}
	return HTTPRequest{Method: "POST", Headers: h, Body: []byte(body)}
}

// call2026 is a 2026-07-28 request body for method with the given params
// members (without the closing brace of params).
func call2026(method, params string) string {
	if params != "" {
		params += ","
	}
	return `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":{` + params +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
}

var (
	toolCall2025 = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a"}}}`
	toolCall2026 = call2026("tools/call", `"name":"read_file","arguments":{"path":"/a"}`)
	v2025        = []string{"mcp-protocol-version", "2025-06-18"}
	h2026        = []string{"mcp-protocol-version", "2026-07-28", "mcp-method", "tools/call", "mcp-name", "read_file"}
)

func with(base []string, kv ...string) []string { return append(append([]string(nil), base...), kv...) }

// TestParseRequest_Problems has one row per refusal ParseRequest can give.
func TestParseRequest_Problems(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	truncated := post(toolCall2025, v2025...)
	truncated.BodyTruncated = true
	get := post("", v2025...)
	get.Method = "GET"
	tests := []struct {
		name string
		req  HTTPRequest
		want Problem
	}{
		{"GET", get, ProblemHTTPMethod},
		{"truncated by Envoy", truncated, ProblemTruncated},
		{"over the limit", post(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"`+strings.Repeat("p", 2000)+`"}}`, v2025...), ProblemTooLarge},
		{"empty POST", post("", v2025...), ProblemEmpty},
		{"content-type missing", post(toolCall2025, with(v2025, "content-type", absent)...), ProblemContentType},
		{"content-type text/plain", post(toolCall2025, with(v2025, "content-type", "text/plain")...), ProblemContentType},
		{"content-type json-seq", post(toolCall2025, with(v2025, "content-type", "application/json-seq")...), ProblemContentType},
		{"content-type latin-1", post(toolCall2025, with(v2025, "content-type", "application/json; charset=iso-8859-1")...), ProblemContentType},
		{"content-type bad parameter", post(toolCall2025, with(v2025, "content-type", "application/json; charset")...), ProblemContentType},
		{"gzip body", post(toolCall2025, with(v2025, "content-encoding", "gzip")...), ProblemContentEncoding},
		{"byte order mark", post("\xef\xbb\xbf"+toolCall2025, v2025...), ProblemBOM},
		{"invalid UTF-8", post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\xc0\"}}", v2025...), ProblemInvalidUTF8},
		{"invalid JSON", post(`{"jsonrpc":"2.0","id":1,"method":"tools/call",}`, v2025...), ProblemSyntax},
		{"duplicate key", post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","name":"delete_repo"}}`, v2025...), ProblemDuplicateKey},
		{"case variant, envelope", post(`{"jsonrpc":"2.0","id":1,"method":"ping","METHOD":"tools/call"}`, v2025...), ProblemCaseVariant},
		{"case variant, tools/call params", post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","NAME":"delete_repo"}}`, v2025...), ProblemCaseVariant},
		{"case variant, _meta", post(strings.Replace(toolCall2026, "protocolVersion", "ProtocolVersion", 1), h2026...), ProblemCaseVariant},
		{"batch", post(`[`+toolCall2025+`]`, v2025...), ProblemBatch},
		{"trailing data", post(toolCall2025+`{}`, v2025...), ProblemTrailingData},
		{"too deep", post(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":`+strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth)+`}}`, v2025...), ProblemTooDeep},
		{"not an object", post(`"tools/call"`, v2025...), ProblemNotObject},
		{"jsonrpc 1.0", post(`{"jsonrpc":"1.0","id":1,"method":"ping"}`, v2025...), ProblemVersion},
		{"fractional id", post(`{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, v2025...), ProblemID},
		{"id past 2^53", post(`{"jsonrpc":"2.0","id":18014398509481984,"method":"ping"}`, v2025...), ProblemID},
		{"no method", post(`{"jsonrpc":"2.0","id":1}`, v2025...), ProblemMethod},
		{"params array", post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}`, v2025...), ProblemParams},
		{"tool name missing", post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}`, v2025...), ProblemToolName},
		{"version header 2025-03-26", post(toolCall2025, "mcp-protocol-version", "2025-03-26"), ProblemUnsupportedVersion},
		{"version header garbage", post(toolCall2025, "mcp-protocol-version", long), ProblemUnsupportedVersion},
		{"no version anywhere", post(toolCall2025), ProblemUnsupportedVersion},
		{"_meta version unknown", post(strings.Replace(toolCall2026, "2026-07-28", "2027-01-01", 1), h2026...), ProblemUnsupportedVersion},
		{"initialize offers 2025-03-26", post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}`), ProblemUnsupportedVersion},
		{"header and _meta versions differ", post(toolCall2026, with(h2026, "mcp-protocol-version", "2025-11-25")...), ProblemHeaderMismatch},
		{"_meta version without header", post(toolCall2026, with(h2026, "mcp-protocol-version", absent)...), ProblemHeaderMismatch},
		{"2026 request without _meta version", post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}`, h2026...), ProblemParams},
		{"2026 client posts a response", post(`{"jsonrpc":"2.0","id":1,"result":{}}`, "mcp-protocol-version", "2026-07-28"), ProblemMethod},
		{"2026 Mcp-Method missing", post(toolCall2026, with(h2026, "mcp-method", absent)...), ProblemHeaderMismatch},
		{"2026 Mcp-Name missing", post(toolCall2026, with(h2026, "mcp-name", absent)...), ProblemHeaderMismatch},
		{"smuggle: Mcp-Name read_file, body delete_repo", post(strings.Replace(toolCall2026, "read_file", "delete_repo", 1), h2026...), ProblemHeaderMismatch},
		{"smuggle on 2025-06-18", post(strings.Replace(toolCall2025, "read_file", "delete_repo", 1), with(v2025, "mcp-name", "read_file")...), ProblemHeaderMismatch},
		{"Mcp-Method disagrees", post(toolCall2025, with(v2025, "mcp-method", "tools/list")...), ProblemHeaderMismatch},
		{"Mcp-Method on a response", post(`{"jsonrpc":"2.0","id":1,"result":{}}`, with(v2025, "mcp-method", "tools/call")...), ProblemHeaderMismatch},
		{"Mcp-Name on a method without target", post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, with(v2025, "mcp-name", "read_file")...), ProblemHeaderMismatch},
		{"Mcp-Name long mismatch", post(strings.Replace(toolCall2026, "read_file", long, 1), with(h2026, "mcp-name", long+"y")...), ProblemHeaderMismatch},
		{"Mcp-Name raw non-ASCII", post(strings.Replace(toolCall2026, "read_file", "天気", 1), with(h2026, "mcp-name", "天気")...), ProblemHeaderMismatch},
		{"Mcp-Name bad base64", post(toolCall2026, with(h2026, "mcp-name", "=?base64?cmVhZF9maWxl?=x?=")...), ProblemHeaderMismatch},
		{"Mcp-Name base64 not UTF-8", post(toolCall2026, with(h2026, "mcp-name", "=?base64?/w==?=")...), ProblemHeaderMismatch},
		{"Mcp-Name base64 of another tool", post(strings.Replace(toolCall2026, "read_file", "delete_repo", 1), with(h2026, "mcp-name", b64("read_file"))...), ProblemHeaderMismatch},
		{"Mcp-Name twice in different case", post(toolCall2026, with(h2026, "Mcp-Name", "delete_repo")...), ProblemHeaderMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseRequest(tc.req, 1024)
			pe, ok := IsParseError(err)
			if !ok || pe.Problem != tc.want {
				t.Fatalf("ParseRequest = %+v, %v; want problem %s", m, err, tc.want)
			}
			var sent []string
			for _, v := range tc.req.Headers {
				sent = append(sent, v)
			}
			assertClientSafe(t, pe, append(sent, string(tc.req.Body))...)
		})
	}
}

func b64(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }

// TestParseRequest_Refusals: header and version refusals of a readable body
// carry its id so the JSON-RPC error can echo it, and map to MCP's codes.
func TestParseRequest_Refusals(t *testing.T) {
	t.Parallel()
	_, err := ParseRequest(post(strings.Replace(toolCall2026, `"id":1`, `"id":"req-9"`, 1), with(h2026, "mcp-name", "x")...), 0)
	pe, _ := IsParseError(err)
	if pe == nil || string(pe.ID) != `"req-9"` || pe.Problem.HTTPStatus() != 400 || pe.Problem.JSONRPCCode() != CodeHeaderMismatch {
		t.Fatalf("mismatch refusal: %+v", pe)
	}
	_, err = ParseRequest(post(toolCall2025, "mcp-protocol-version", "2024-11-05"), 0)
	pe, _ = IsParseError(err)
	if pe == nil || string(pe.ID) != "1" || pe.Problem.JSONRPCCode() != CodeUnsupportedProtocolVersion ||
		!strings.Contains(pe.Detail, "2026-07-28, 2025-11-25, 2025-06-18") {
		t.Fatalf("version refusal: %+v", pe)
	}
	_, err = ParseRequest(post(`[`+toolCall2025+`]`, v2025...), 0)
	if pe, _ = IsParseError(err); pe == nil || !strings.Contains(pe.Detail, "2025-03-26") || pe.ID != nil {
		t.Fatalf("batch refusal must say 2025-03-26 is not supported and carry no id: %+v", pe)
	}
}

// TestParseRequest_Revisions is the revision detection matrix.
func TestParseRequest_Revisions(t *testing.T) {
	t.Parallel()
	initialize := func(v string) string {
		return `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + v + `","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	}
	tests := []struct {
		name string
		req  HTTPRequest
		want Revision
	}{
		{"initialize 2025-06-18, no header", post(initialize("2025-06-18")), Revision20250618},
		{"initialize 2025-11-25, no header", post(initialize("2025-11-25")), Revision20251125},
		{"initialize with a header: the header decides", post(initialize("2025-11-25"), v2025...), Revision20250618},
		{"2025-06-18 header", post(toolCall2025, v2025...), Revision20250618},
		{"2025-11-25 header", post(toolCall2025, "mcp-protocol-version", "2025-11-25"), Revision20251125},
		{"2025-11-25 notification", post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, "mcp-protocol-version", "2025-11-25"), Revision20251125},
		{"2025-06-18 client response", post(`{"jsonrpc":"2.0","id":"s1","result":{"action":"accept"}}`, v2025...), Revision20250618},
		{"2026 header and _meta", post(toolCall2026, h2026...), Revision20260728},
		{"2026 server/discover", post(call2026("server/discover", ""), "mcp-protocol-version", "2026-07-28", "mcp-method", "server/discover"), Revision20260728},
		{"2026 notification without _meta version", post(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
			"mcp-protocol-version", "2026-07-28", "mcp-method", "notifications/cancelled"), Revision20260728},
		{"header names in any case", post(toolCall2026, "MCP-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call", "MCP-NAME", "read_file",
			"content-type", absent, "Content-Type", "Application/JSON; Charset=\"UTF-8\""), Revision20260728},
		{"identity encoding", post(toolCall2025, with(v2025, "content-encoding", "identity")...), Revision20250618},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseRequest(tc.req, 0)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if m.Revision != tc.want || m.ProtocolVersion != tc.want.String() {
				t.Errorf("revision %s (%q), want %s", m.Revision, m.ProtocolVersion, tc.want)
			}
		})
	}
}

// TestParseRequest_MirrorMatrix: for every governed method and revision,
// matching headers pass, disagreeing ones never do, and missing ones fail
// only where 2026-07-28 requires them.
func TestParseRequest_MirrorMatrix(t *testing.T) {
	t.Parallel()
	methods := []struct{ method, member, value string }{
		{"tools/call", "name", "read_file"},
		{"prompts/get", "name", "summarize"},
		{"resources/read", "uri", "file:///projects/a.json"},
	}
	type variant struct {
		name       string
		method     string // Mcp-Method value, or absent
		target     string // Mcp-Name value, or absent
		legacyOK   bool
		modern2026 bool
	}
	for _, rev := range []string{"2025-06-18", "2025-11-25", "2026-07-28"} {
		for _, mt := range methods {
			variants := []variant{
				{"both match", mt.method, mt.value, true, true},
				{"name base64", mt.method, b64(mt.value), true, true},
				{"no mirrors", absent, absent, true, false},
				{"method only", mt.method, absent, true, false},
				{"name differs", mt.method, "delete_repo", false, false},
				{"name differs in case", mt.method, strings.ToUpper(mt.value), false, false},
				{"method differs", "tools/list", mt.value, false, false},
				{"method differs in case", strings.ToUpper(mt.method), mt.value, false, false},
			}
			for _, v := range variants {
				body := `{"jsonrpc":"2.0","id":1,"method":"` + mt.method + `","params":{"` + mt.member + `":"` + mt.value + `"}}`
				if rev == "2026-07-28" {
					body = call2026(mt.method, `"`+mt.member+`":"`+mt.value+`"`)
				}
				_, err := ParseRequest(post(body, "mcp-protocol-version", rev, "mcp-method", v.method, "mcp-name", v.target), 0)
				wantOK := v.legacyOK
				if rev == "2026-07-28" {
					wantOK = v.modern2026
				}
				if pe, _ := IsParseError(err); (err == nil) != wantOK || (err != nil && pe.Problem != ProblemHeaderMismatch) {
					t.Errorf("%s %s %s: err %v, want ok=%v", rev, mt.method, v.name, err, wantOK)
				}
			}
		}
	}
}

// TestParseRequest_Base64Name: a non-ASCII tool name arrives base64-encoded
// and is compared decoded.
func TestParseRequest_Base64Name(t *testing.T) {
	t.Parallel()
	body := strings.Replace(toolCall2026, "read_file", "天気", 1)
	m, err := ParseRequest(post(body, with(h2026, "mcp-name", "=?base64?5aSp5rCX?=")...), 0)
	if err != nil || m.ToolName != "天気" {
		t.Fatalf("base64 Mcp-Name: %+v, %v", m, err)
	}
	// A plain value that happens to look encoded must itself be encoded by
	// the client; sent plain, it is decoded and compared, and so fails.
	body = strings.Replace(toolCall2026, "read_file", "=?base64?cmVhZF9maWxl?=", 1)
	if _, err := ParseRequest(post(body, with(h2026, "mcp-name", "=?base64?cmVhZF9maWxl?=")...), 0); err == nil {
		t.Fatal("a sentinel-shaped name sent plain must not match itself")
	}
}

func TestParseRequest_ToolCall(t *testing.T) {
	t.Parallel()
	m, err := ParseRequest(post(benchToolCall, benchHeaders()...), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsToolCall() || m.ToolName != "place_trade" || string(m.ID) != "7" || m.Revision != Revision20260728 ||
		!json.Valid(m.Arguments) || !strings.HasPrefix(string(m.Meta), `{"progressToken"`) {
		t.Errorf("message: %+v", m)
	}
}

// benchToolCall is a typical 2026-07-28 tools/call: ~300 bytes, five arguments.
const benchToolCall = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"place_trade",` +
	`"arguments":{"symbol":"ACME","side":"buy","quantity":100,"limitPrice":12.5,"account":"ACC-1"},` +
	`"_meta":{"progressToken":"t1","io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
	`"io.modelcontextprotocol/clientInfo":{"name":"agent","version":"1.0"}}}}`

// benchHeaders are what Envoy's CheckRequest carries for it.
func benchHeaders() []string {
	return []string{
		":authority", "mcp.example.com", ":method", "POST", ":path", "/mcp", ":scheme", "https",
		"accept", "application/json, text/event-stream", "authorization", "Bearer x", "user-agent", "agent/1.0",
		"x-request-id", "5f1c", "mcp-protocol-version", "2026-07-28", "mcp-method", "tools/call", "mcp-name", "place_trade",
	}
}

func BenchmarkParseRequest_ToolCall(b *testing.B) {
	req := post(benchToolCall, benchHeaders()...)
	b.ReportAllocs()
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		if _, err := ParseRequest(req, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseRequest: whatever the body and mirror headers, ParseRequest
// never panics, refuses only with a *ParseError, and what it accepts is
// valid JSON whose tools/call names its tool, equal to Mcp-Name when sent.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(toolCall2026), "2026-07-28", "tools/call", "read_file")
	f.Add([]byte(strings.Replace(toolCall2026, "read_file", "delete_repo", 1)), "2026-07-28", "tools/call", "read_file")
	f.Add([]byte(toolCall2025), "2025-06-18", absent, absent)
	f.Add([]byte(toolCall2025), "2025-11-25", "tools/call", b64("read_file"))
	f.Add([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`), absent, absent, absent)
	f.Add([]byte(call2026("resources/read", `"uri":"file:///a"`)), "2026-07-28", "resources/read", "file:///a")
	f.Fuzz(func(t *testing.T, body []byte, version, method, name string) {
		req := post(string(body), "mcp-protocol-version", version, "mcp-method", method, "mcp-name", name)
		m, err := ParseRequest(req, 1<<16)
		if err != nil {
			if _, ok := IsParseError(err); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatal("accepted invalid JSON")
		}
		if m.Revision == RevisionUnknown {
			t.Fatal("accepted without a revision")
		}
		if m.IsToolCall() && m.ToolName == "" {
			t.Fatal("accepted a tools/call without a tool name")
		}
		if name != absent && m.IsToolCall() {
			if v, pe := mirrorValue("Mcp-Name", strings.Trim(name, " \t")); pe != nil || v != m.ToolName {
				t.Fatalf("accepted Mcp-Name %q for tool %q", name, m.ToolName)
			}
		}
		if m.Revision == Revision20260728 && m.IsToolCall() && (name == absent || method == absent) {
			t.Fatal("accepted a 2026-07-28 tools/call without its mirror headers")
		}
	})
}
