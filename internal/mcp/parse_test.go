package mcp

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		problem Problem // "" = accepted
		kind    Kind
		method  string
		tool    string
		id      string
	}{
		{"tools/call", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p1"}}}`, "", KindRequest, "tools/call", "read_chart", "7"},
		{"string id kept raw", `{"jsonrpc":"2.0","id":"req-7","method":"tools/list"}`, "", KindRequest, "tools/list", "", `"req-7"`},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "", KindNotification, "notifications/initialized", "", ""},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, "", KindResponse, "", "", "1"},
		{"whitespace around", " \n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n ", "", KindRequest, "ping", "", "1"},
		{"empty", ``, ProblemEmpty, 0, "", "", ""},
		{"duplicate top-level key", `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, ProblemDuplicateKey, 0, "", "", ""},
		{"duplicate nested key", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":1,"x":2}}}`, ProblemDuplicateKey, 0, "", "", ""},
		{"duplicate tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","name":"delete"}}`, ProblemDuplicateKey, 0, "", "", ""},
		{"case variant of name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","Name":"delete"}}`, ProblemCaseVariant, 0, "", "", ""},
		{"case variant of method", `{"jsonrpc":"2.0","id":1,"Method":"tools/call","method":"ping"}`, ProblemCaseVariant, 0, "", "", ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, ProblemBatch, 0, "", "", ""},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"tools/call"}`, ProblemTrailingData, 0, "", "", ""},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"re`, ProblemSyntax, 0, "", "", ""},
		{"invalid utf8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffing\"}", ProblemInvalidUTF8, 0, "", "", ""},
		{"not an object", `"hello"`, ProblemNotObject, 0, "", "", ""},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, ProblemVersion, 0, "", "", ""},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, ProblemID, 0, "", "", ""},
		{"fractional id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, ProblemID, 0, "", "", ""},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, ProblemID, 0, "", "", ""},
		{"params array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["read"]}`, ProblemParams, 0, "", "", ""},
		{"tool name missing", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, ProblemToolName, 0, "", "", ""},
		{"tool name not string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`, ProblemToolName, 0, "", "", ""},
		{"arguments not object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}`, ProblemParams, 0, "", "", ""},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, ProblemMethod, 0, "", "", ""},
		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":` +
			strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}}}`, ProblemTooDeep, 0, "", "", ""},

		// Added with the single-pass scanner.
		{"escaped tool name decoded", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read\u005fchart"}}`, "", KindRequest, "tools/call", "read_chart", "1"},
		{"escaped key is the key", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"a","name":"b"}}`, ProblemDuplicateKey, 0, "", "", ""},
		{"largest safe id", `{"jsonrpc":"2.0","id":-9007199254740991,"method":"ping"}`, "", KindRequest, "ping", "", "-9007199254740991"},
		{"id beyond 2^53", `{"jsonrpc":"2.0","id":9007199254740992,"method":"ping"}`, ProblemID, 0, "", "", ""},
		{"id exponent", `{"jsonrpc":"2.0","id":1e3,"method":"ping"}`, ProblemID, 0, "", "", ""},
		{"id minus zero", `{"jsonrpc":"2.0","id":-0,"method":"ping"}`, ProblemID, 0, "", "", ""},
		{"tools/call without id", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_repo"}}`, ProblemID, 0, "", "", ""},
		{"byte order mark", "\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", ProblemBOM, 0, "", "", ""},
		{"case variant via long s", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","argument\u017f":{}}}`, ProblemCaseVariant, 0, "", "", ""},
		{"case variant via kelvin sign, raw UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"tas\u212a\":{}}}", ProblemCaseVariant, 0, "", "", ""},
		{"case variant of params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"Params":{"name":"b"}}`, ProblemCaseVariant, 0, "", "", ""},
		{"case variant of meta version", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolversion":"2026-07-28"}}}`, ProblemCaseVariant, 0, "", "", ""},
		{"case variant of reserved meta prefix", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"IO.modelcontextprotocol/future":1}}}`, ProblemCaseVariant, 0, "", "", ""},
		{"meta not an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":[]}}`, ProblemParams, 0, "", "", ""},
		{"meta version not a string", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":20260728}}}`, ProblemParams, 0, "", "", ""},
		{"prompts/get", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"summarize","arguments":{"style":"brief"}}}`, "", KindRequest, "prompts/get", "", "1"},
		{"prompts/get without name", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{}}`, ProblemParams, 0, "", "", ""},
		{"resources/read without uri", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":""}}`, ProblemParams, 0, "", "", ""},
		{"initialize without version", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}`, ProblemParams, 0, "", "", ""},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, ProblemMethod, 0, "", "", ""},
		{"long duplicate key not echoed", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"` + strings.Repeat("k", 300) + `":1,"` + strings.Repeat("k", 300) + `":2}}`, ProblemDuplicateKey, 0, "", "", ""},
		{"long method not echoed", `{"jsonrpc":"2.0","method":"` + strings.Repeat("m", 300) + `"}`, ProblemID, 0, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse([]byte(tc.body), 1<<20)
			if tc.problem != "" {
				pe, ok := IsParseError(err)
				if !ok || pe.Problem != tc.problem {
					t.Fatalf("Parse = %v, %v; want problem %s", m, err, tc.problem)
				}
				assertClientSafe(t, pe, tc.body)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Kind != tc.kind || m.Method != tc.method || m.ToolName != tc.tool || string(m.ID) != tc.id {
				t.Errorf("got kind %d method %q tool %q id %s", m.Kind, m.Method, m.ToolName, m.ID)
			}
		})
	}
}

// assertClientSafe: a refusal's detail says something and never quotes
// more than snippetLimit consecutive bytes of what the client sent.
func assertClientSafe(t *testing.T, pe *ParseError, sent ...string) {
	t.Helper()
	if pe.Detail == "" {
		t.Errorf("problem %s has no detail", pe.Problem)
	}
	for _, s := range sent {
		for i := 0; i+snippetLimit < len(s); i++ {
			if strings.Contains(pe.Detail, s[i:i+snippetLimit+1]) {
				t.Fatalf("detail echoes more than %d bytes of the request: %s", snippetLimit, pe.Detail)
			}
		}
	}
}

func TestParse_Targets(t *testing.T) {
	t.Parallel()
	m, err := Parse([]byte(`{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"name":"place_trade",`+
		`"arguments":{"qty":1},"_meta":{"progressToken":"t","io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Arguments) != `{"qty":1}` || string(m.Meta) != `{"progressToken":"t","io.modelcontextprotocol/protocolVersion":"2026-07-28"}` ||
		m.ProtocolVersion != "2026-07-28" || m.Revision != RevisionUnknown || m.Target() != "place_trade" {
		t.Errorf("tools/call: %+v", m)
	}
	m, err = Parse([]byte(`{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"file:///a"}}`), 0)
	if err != nil || m.URI != "file:///a" || m.Target() != "file:///a" {
		t.Errorf("resources/subscribe: %+v, %v", m, err)
	}
	m, err = Parse([]byte(`{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`), 0)
	if err != nil || m.ProtocolVersion != "2025-06-18" {
		t.Errorf("initialize: %+v, %v", m, err)
	}
}

// TestParse_CopiesBody: the message must not change when the caller reuses
// its buffer, and appending to one raw field must not write into another.
func TestParse_CopiesBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a","arguments":{"x":1}}}`)
	m, err := Parse(body, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = ' '
	}
	_ = append(m.ID, "garbage"...)
	if string(m.ID) != "7" || string(m.Arguments) != `{"x":1}` || !strings.HasPrefix(string(m.Params), `{"name":"a"`) {
		t.Errorf("message changed with the caller's buffer: id %s params %s", m.ID, m.Params)
	}
}

func TestParse_Limit(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if _, err := Parse(body, len(body)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if pe, ok := IsParseError(must(Parse(body, len(body)-1))); !ok || pe.Problem != ProblemTooLarge {
		t.Fatal("one byte over the limit must be refused")
	}
}

func must(_ *Message, err error) error { return err }

func TestErrorBody_EchoesID(t *testing.T) {
	for _, id := range []string{`7`, `"req-7"`, `-1`} {
		b := ErrorBody(json.RawMessage(id), CodePolicyDenied, "denied", &ErrorData{Reason: "unknown_tool"})
		if !strings.HasPrefix(string(b), `{"jsonrpc":"2.0","id":`+id+`,`) {
			t.Errorf("id %s not echoed byte for byte: %s", id, b)
		}
	}
	if b := ErrorBody(nil, CodeParseError, "bad", nil); !strings.Contains(string(b), `"id":null`) {
		t.Errorf("id-less error must carry id null: %s", b)
	}
}

// FuzzParse: whatever the bytes, Parse returns a message or a *ParseError,
// never panics, and an accepted tools/call always names its tool.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p1"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","name":"delete"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body, 1<<16)
		if err != nil {
			if _, ok := IsParseError(err); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if m.IsToolCall() && m.ToolName == "" {
			t.Fatal("accepted a tools/call without a tool name")
		}
		if !json.Valid(body) {
			t.Fatal("accepted invalid JSON")
		}
	})
}

func BenchmarkParse_ToolCall(b *testing.B) {
	body := []byte(benchToolCall)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
