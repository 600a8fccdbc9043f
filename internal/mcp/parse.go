// Package mcp reads MCP JSON-RPC messages the way a policy engine must: one
// interpretation only. Any body two parsers could read differently (duplicate
// keys, case variants of protocol keys, batches, trailing data, invalid UTF-8)
// is rejected with its own error rather than guessed at. It also builds the
// MCP-shaped error bodies the gateway answers with.
//
// It imports no gRPC and no Envoy types: the decision core and replay call it.
package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds JSON nesting; deeper bodies are rejected before decoding.
const MaxDepth = 64

// Problem classifies why a body was refused. Each has a stable string so it
// can be a reason code in a decision and an audit event.
type Problem string

// Problems a body can have.
const (
	ProblemEmpty        Problem = "empty_body"
	ProblemTooLarge     Problem = "body_too_large"
	ProblemInvalidUTF8  Problem = "invalid_utf8"
	ProblemSyntax       Problem = "invalid_json"
	ProblemTrailingData Problem = "trailing_data"
	ProblemBatch        Problem = "batch_not_supported"
	ProblemNotObject    Problem = "not_an_object"
	ProblemDuplicateKey Problem = "duplicate_key"
	ProblemCaseVariant  Problem = "key_case_variant"
	ProblemTooDeep      Problem = "too_deep"
	ProblemVersion      Problem = "jsonrpc_version"
	ProblemID           Problem = "invalid_id"
	ProblemMethod       Problem = "invalid_method"
	ProblemParams       Problem = "invalid_params"
	ProblemToolName     Problem = "invalid_tool_name"
)

// ParseError is a body the gateway refuses to interpret.
type ParseError struct {
	Problem Problem
	Detail  string // safe to show the client: describes the body, not us
}

func (e *ParseError) Error() string { return string(e.Problem) + ": " + e.Detail }

func perr(p Problem, format string, args ...any) *ParseError {
	return &ParseError{Problem: p, Detail: fmt.Sprintf(format, args...)}
}

// Kind is what a JSON-RPC message is.
type Kind int

// Message kinds.
const (
	KindRequest      Kind = iota + 1 // has id and method
	KindNotification                 // method, no id
	KindResponse                     // id and result or error
)

// Message is one parsed JSON-RPC message. Raw fields keep the exact bytes so
// ids can be echoed byte for byte and arguments hashed as sent.
type Message struct {
	Kind   Kind
	ID     json.RawMessage // nil for notifications
	Method string
	Params json.RawMessage // nil when absent

	// For tools/call only.
	ToolName  string
	Arguments json.RawMessage
	Meta      json.RawMessage
}

// IsToolCall reports whether the message is a tools/call request.
func (m *Message) IsToolCall() bool { return m.Kind == KindRequest && m.Method == "tools/call" }

var envelopeKeys = []string{"jsonrpc", "id", "method", "params", "result", "error"}
var toolCallKeys = []string{"name", "arguments", "_meta", "task"}

// Parse reads exactly one JSON-RPC message of at most limit bytes.
func Parse(body []byte, limit int) (*Message, error) {
	if len(body) == 0 {
		return nil, perr(ProblemEmpty, "the request has no body; MCP requests are one JSON-RPC message")
	}
	if limit > 0 && len(body) > limit {
		return nil, perr(ProblemTooLarge, "the body is %d bytes; the limit is %d", len(body), limit)
	}
	if !utf8.Valid(body) {
		return nil, perr(ProblemInvalidUTF8, "the body is not valid UTF-8")
	}
	if err := checkStructure(body); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if trimmed[0] == '[' {
		return nil, perr(ProblemBatch, "JSON-RPC batches are not accepted; send one message per request")
	}
	if trimmed[0] != '{' {
		return nil, perr(ProblemNotObject, "the body must be a JSON object")
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, perr(ProblemSyntax, "%v", err)
	}
	if err := exactKeys(env, envelopeKeys, ""); err != nil {
		return nil, err
	}
	return interpret(env)
}

func interpret(env map[string]json.RawMessage) (*Message, error) {
	if v, ok := env["jsonrpc"]; !ok || string(v) != `"2.0"` {
		return nil, perr(ProblemVersion, `"jsonrpc" must be "2.0"`)
	}
	m := &Message{}
	id, hasID := env["id"]
	if hasID {
		if err := checkID(id); err != nil {
			return nil, err
		}
		m.ID = id
	}
	rawMethod, hasMethod := env["method"]
	_, hasResult := env["result"]
	_, hasError := env["error"]
	switch {
	case hasMethod && (hasResult || hasError):
		return nil, perr(ProblemMethod, "a message cannot carry both a method and a result or error")
	case hasMethod:
		if err := json.Unmarshal(rawMethod, &m.Method); err != nil || m.Method == "" {
			return nil, perr(ProblemMethod, `"method" must be a non-empty string`)
		}
		m.Kind = KindNotification
		if hasID {
			m.Kind = KindRequest
		}
	case hasResult != hasError && hasID:
		m.Kind = KindResponse
		return m, nil
	default:
		return nil, perr(ProblemMethod, "the message is neither a request, a notification nor a response")
	}
	if p, ok := env["params"]; ok {
		if len(p) == 0 || p[0] != '{' {
			return nil, perr(ProblemParams, `"params" must be an object`)
		}
		m.Params = p
	}
	if m.IsToolCall() {
		if err := m.readToolCall(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func checkID(id json.RawMessage) error {
	switch {
	case len(id) == 0 || string(id) == "null":
		return perr(ProblemID, `"id" must be a string or an integer, not null`)
	case id[0] == '"':
		return nil
	case bytes.ContainsAny(id, ".eE"):
		return perr(ProblemID, `"id" must be a string or an integer`)
	case (id[0] >= '0' && id[0] <= '9') || id[0] == '-':
		return nil
	}
	return perr(ProblemID, `"id" must be a string or an integer`)
}

func (m *Message) readToolCall() error {
	if m.Params == nil {
		return perr(ProblemParams, `tools/call needs "params"`)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(m.Params, &p); err != nil {
		return perr(ProblemParams, "%v", err)
	}
	if err := exactKeys(p, toolCallKeys, "params."); err != nil {
		return err
	}
	raw, ok := p["name"]
	if !ok || json.Unmarshal(raw, &m.ToolName) != nil || m.ToolName == "" {
		return perr(ProblemToolName, `tools/call needs "params.name", a non-empty string`)
	}
	if a, ok := p["arguments"]; ok {
		if a[0] != '{' {
			return perr(ProblemParams, `"params.arguments" must be an object`)
		}
		m.Arguments = a
	}
	m.Meta = p["_meta"]
	return nil
}

// exactKeys rejects keys that differ from a protocol key only by case: Go's
// encoding/json would match them to the same struct field, a strict server
// would not, and the two would disagree about what was called.
func exactKeys(obj map[string]json.RawMessage, known []string, prefix string) error {
	for k := range obj {
		for _, want := range known {
			if k != want && strings.EqualFold(k, want) {
				return perr(ProblemCaseVariant, "key %q is a case variant of %q", prefix+k, prefix+want)
			}
		}
	}
	return nil
}

type frame struct {
	object bool
	keys   map[string]struct{}
	expect bool // object: the next string token is a key
}

// checkStructure walks every token once: syntax, nesting depth, duplicate
// keys at any level, and nothing after the first value.
func checkStructure(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return perr(ProblemSyntax, "%v", err)
		}
		if stack, err = step(stack, tok); err != nil {
			return err
		}
		if len(stack) == 0 {
			if _, err := dec.Token(); err != io.EOF {
				return perr(ProblemTrailingData, "data follows the JSON-RPC message")
			}
			return nil
		}
	}
	return perr(ProblemSyntax, "unexpected end of JSON input")
}

// step applies one token to the nesting stack.
func step(stack []frame, tok json.Token) ([]frame, error) {
	if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expect {
		top := &stack[n-1]
		if d, ok := tok.(json.Delim); ok && d == '}' {
			stack = stack[:n-1]
			markValue(stack)
			return stack, nil
		}
		key := tok.(string) // the decoder only yields strings in key position
		if _, dup := top.keys[key]; dup {
			return nil, perr(ProblemDuplicateKey, "key %q appears twice in one object", key)
		}
		top.keys[key] = struct{}{}
		top.expect = false
		return stack, nil
	}
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if len(stack) >= MaxDepth {
			return nil, perr(ProblemTooDeep, "nesting deeper than %d levels", MaxDepth)
		}
		stack = append(stack, frame{object: tok == json.Delim('{'), expect: tok == json.Delim('{')})
		if tok == json.Delim('{') {
			stack[len(stack)-1].keys = map[string]struct{}{}
		}
	case json.Delim(']'):
		stack = stack[:len(stack)-1]
		markValue(stack)
	default:
		markValue(stack)
	}
	return stack, nil
}

// markValue records that a value completed inside the enclosing object, so
// the next string token there is a key again.
func markValue(stack []frame) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].expect = true
	}
}

// IsParseError reports whether err is a *ParseError and returns it.
func IsParseError(err error) (*ParseError, bool) {
	var pe *ParseError
	ok := errors.As(err, &pe)
	return pe, ok
}
