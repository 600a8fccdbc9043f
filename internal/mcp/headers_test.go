package mcp

import "testing"

func TestCheckContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v  string
		ok bool
	}{
		{"application/json", true},
		{"Application/JSON", true},
		{"application/json; charset=utf-8", true},
		{`application/json;charset="UTF-8"`, true},
		{"application/json; profile=mcp", true},
		{"application/json ; charset=utf-8 ;", true},
		{"application/json; charset=utf-16", false},
		{"application/json; charset", false},
		{"application/jsonx", false},
		{"application/json-rpc", false},
		{"text/json", false},
		{"multipart/form-data; boundary=x", false},
		{"", false},
	}
	for _, tc := range tests {
		if err := checkContentType(tc.v); (err == nil) != tc.ok {
			t.Errorf("checkContentType(%q) = %v, want ok=%v", tc.v, err, tc.ok)
		}
	}
}

func TestMirrorValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"read_file", "read_file", true},
		{"file:///a b.txt", "file:///a b.txt", true},
		{"=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界", true},
		{"=?base64?IHBhZGRlZCA=?=", " padded ", true},
		{"=?base64?bGluZTEKbGluZTI=?=", "line1\nline2", true},
		{"=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?=", true},
		{"=?base64??=", "", true},
		{"=?BASE64?cmVhZF9maWxl?=", "=?BASE64?cmVhZF9maWxl?=", true}, // markers are case-sensitive: a plain value
		{"=?base64?", "=?base64?", true},                             // too short to be encoded
		{"=?base64?SGVsbG8sIOS4lueVjA?=", "", false},                 // unpadded
		{"=?base64?SGVsbG8*?=", "", false},
		{"=?base64?/w==?=", "", false}, // decodes to 0xff
		{"caf\xc3\xa9", "", false},     // raw non-ASCII
		{"a\x01b", "", false},
		{"a\x7fb", "", false},
	}
	for _, tc := range tests {
		got, err := mirrorValue("Mcp-Name", tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("mirrorValue(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && err.Problem != ProblemHeaderMismatch {
			t.Errorf("mirrorValue(%q): problem %s", tc.in, err.Problem)
		}
	}
}

func TestReadHeaders(t *testing.T) {
	t.Parallel()
	h, err := readHeaders(map[string]string{
		"Content-Type": "application/json", "MCP-PROTOCOL-VERSION": " 2026-07-28 ", "mcp-method": "tools/call",
		"Mcp-Name": "a", "x-other": "ignored", "content-encoding": "identity",
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.version.value != "2026-07-28" || h.method.value != "tools/call" || h.name.value != "a" ||
		!h.contentType.present || !h.contentEncoding.present {
		t.Errorf("headers: %+v", h)
	}
	if _, err := readHeaders(map[string]string{"mcp-method": "ping", "Mcp-Method": "tools/call"}); err == nil || err.Problem != ProblemHeaderMismatch {
		t.Errorf("one header under two cases: %v", err)
	}
	if h, err := readHeaders(nil); err != nil || h.contentType.present {
		t.Errorf("no headers: %+v, %v", h, err)
	}
}

func TestProblem_Mapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p            Problem
		status, code int
	}{
		{ProblemHeaderMismatch, 400, CodeHeaderMismatch},
		{ProblemUnsupportedVersion, 400, CodeUnsupportedProtocolVersion},
		{ProblemHTTPMethod, 405, CodeInvalidRequest},
		{ProblemTruncated, 413, CodeParseError},
		{ProblemTooLarge, 413, CodeParseError},
		{ProblemContentType, 415, CodeInvalidRequest},
		{ProblemContentEncoding, 415, CodeInvalidRequest},
		{ProblemSyntax, 400, CodeParseError},
		{ProblemDuplicateKey, 400, CodeParseError},
		{ProblemBatch, 400, CodeInvalidRequest},
		{ProblemToolName, 400, CodeInvalidParams},
		{ProblemParams, 400, CodeInvalidParams},
	}
	for _, tc := range tests {
		if s, c := tc.p.HTTPStatus(), tc.p.JSONRPCCode(); s != tc.status || c != tc.code {
			t.Errorf("%s: %d %d, want %d %d", tc.p, s, c, tc.status, tc.code)
		}
	}
}
