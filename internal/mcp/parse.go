package mcp

import (
	"bytes"
	"encoding/json"
)

// MaxDepth bounds JSON nesting; deeper bodies are rejected.
const MaxDepth = 64

// Kind is what a JSON-RPC message is.
type Kind int

// Message kinds.
const (
	KindRequest      Kind = iota + 1 // has id and method
	KindNotification                 // method, no id
	KindResponse                     // id and result or error
)

// Message is one parsed JSON-RPC message. Raw fields keep the exact bytes
// so ids can be echoed byte for byte and arguments hashed as sent; they
// share one private copy of the body, never the caller's buffer.
type Message struct {
	Kind   Kind
	ID     json.RawMessage // nil for notifications
	Method string
	Params json.RawMessage // nil when absent
	Meta   json.RawMessage // params._meta, nil when absent

	ToolName  string          // tools/call: params.name
	Arguments json.RawMessage // tools/call, prompts/get: params.arguments
	Name      string          // prompts/get: params.name
	URI       string          // resources/read|subscribe|unsubscribe: params.uri

	// ProtocolVersion is the MCP revision the message is governed by.
	// ParseRequest sets it from the header or the body and checks it is
	// supported (Revision says which). Parse, which sees no headers, sets
	// it to what the body names, if anything, unchecked.
	ProtocolVersion string
	Revision        Revision
}

// IsToolCall reports whether the message is a tools/call request.
func (m *Message) IsToolCall() bool { return m.Kind == KindRequest && m.Method == "tools/call" }

// Target is what the Mcp-Name header mirrors: the tool, prompt or resource
// the request names, "" for methods without one.
func (m *Message) Target() string {
	switch {
	case m.ToolName != "":
		return m.ToolName
	case m.Name != "":
		return m.Name
	}
	return m.URI
}

// Parse reads exactly one JSON-RPC message of at most limit bytes (no limit
// when limit <= 0). It checks the body only; ParseRequest also checks the
// HTTP request around it and the protocol revision.
func Parse(body []byte, limit int) (*Message, error) {
	m, _, pe := parseBody(body, limit)
	if pe != nil {
		return nil, pe
	}
	return m, nil
}

// bodyFacts are what the body says that only ParseRequest acts on.
type bodyFacts struct {
	metaVersion    string // params._meta[MetaProtocolVersion]
	initVersion    string // initialize params.protocolVersion
	hasMetaVersion bool
	hasInitVersion bool
	name, uri      []byte // params.name / params.uri of any method, raw
}

func parseBody(body []byte, limit int) (*Message, bodyFacts, *ParseError) {
	var facts bodyFacts
	switch {
	case len(body) == 0:
		return nil, facts, perr(ProblemEmpty, "the request has no body; MCP requests are one JSON-RPC message")
	case limit > 0 && len(body) > limit:
		return nil, facts, perr(ProblemTooLarge, "the body is %d bytes; the limit is %d", len(body), limit)
	case bytes.HasPrefix(body, []byte("\xef\xbb\xbf")):
		return nil, facts, perr(ProblemBOM, "the body starts with a byte order mark; JSON text must not (RFC 8259 section 8.1)")
	}
	data := bytes.Clone(body)
	s := newScanner(data)
	if err := s.scan(); err != nil {
		return nil, facts, err
	}
	switch data[firstNonSpace(data)] {
	case '{':
	case '[':
		return nil, facts, perr(ProblemBatch, "JSON-RPC batches are not accepted: MCP 2025-06-18, 2025-11-25 and 2026-07-28 forbid them, "+
			"and 2025-03-26, the only revision that allowed them, is not supported; send one message per request")
	default:
		return nil, facts, perr(ProblemNotObject, "the body must be a JSON object")
	}
	r := reader{s: s, data: data}
	m, err := r.message()
	if err != nil {
		return nil, facts, err
	}
	return m, r.facts, nil
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return len(b)
}

// reader interprets the members the scanner recorded.
type reader struct {
	s     *scanner
	data  []byte
	facts bodyFacts
}

// envelope holds the member index of each envelope key, -1 when absent.
type envelope struct{ jsonrpc, id, method, params, result, error int }

var envelopeKeys = []string{"jsonrpc", "id", "method", "params", "result", "error"}

func (r *reader) envelope() (envelope, *ParseError) {
	e := envelope{-1, -1, -1, -1, -1, -1}
	for i := range r.s.members {
		mb := &r.s.members[i]
		if mb.parent != rootParent {
			continue
		}
		key := r.s.keyBytes(mb.key)
		switch string(key) {
		case "jsonrpc":
			e.jsonrpc = i
		case "id":
			e.id = i
		case "method":
			e.method = i
		case "params":
			e.params = i
		case "result":
			e.result = i
		case "error":
			e.error = i
		default:
			if err := caseVariant(key, envelopeKeys, ""); err != nil {
				return e, err
			}
		}
	}
	return e, nil
}

func (r *reader) raw(i int) []byte { return r.s.valueBytes(i) }

func (r *reader) message() (*Message, *ParseError) {
	e, err := r.envelope()
	if err != nil {
		return nil, err
	}
	if e.jsonrpc < 0 || string(r.raw(e.jsonrpc)) != `"2.0"` {
		return nil, perr(ProblemVersion, `"jsonrpc" must be "2.0"`)
	}
	m := &Message{}
	if e.id >= 0 {
		if err := checkID(r.raw(e.id)); err != nil {
			return nil, err
		}
		m.ID = r.raw(e.id)
	}
	switch {
	case e.method >= 0 && (e.result >= 0 || e.error >= 0):
		return nil, perr(ProblemMethod, "a message cannot carry both a method and a result or error")
	case e.method >= 0:
		return m, r.call(m, e)
	case (e.result >= 0) != (e.error >= 0) && e.id >= 0:
		m.Kind = KindResponse
		return m, nil
	}
	return nil, perr(ProblemMethod, "the message is neither a request, a notification nor a response")
}

// call reads a request or notification: method, params and its targets.
func (r *reader) call(m *Message, e envelope) *ParseError {
	raw := r.raw(e.method)
	if raw[0] != '"' || len(raw) == 2 {
		return perr(ProblemMethod, `"method" must be a non-empty string`)
	}
	m.Method = methodName(raw)
	m.Kind = KindRequest
	if e.id < 0 {
		// A server that runs a "notification" tools/call would run it
		// unchecked, so only notifications/* may go without an id.
		if len(m.Method) < len("notifications/") || m.Method[:len("notifications/")] != "notifications/" {
			return perr(ProblemID, `%s needs an "id": only notifications/* methods may omit it`, clip(m.Method))
		}
		m.Kind = KindNotification
	}
	if e.params >= 0 {
		p := r.raw(e.params)
		if p[0] != '{' {
			return perr(ProblemParams, `"params" must be an object`)
		}
		m.Params = p
	}
	return r.params(m, e.params)
}

// maxSafeInteger is 2^53-1, the largest integer every JSON parser (a
// JavaScript client's included) reads exactly: a larger id could be echoed
// back as a different number.
const maxSafeInteger = "9007199254740991"

// checkID accepts a string or an integer id within ±(2^53-1).
func checkID(id []byte) *ParseError {
	switch c := id[0]; {
	case c == '"':
		return nil
	case c == 'n':
		return perr(ProblemID, `"id" must be a string or an integer, not null`)
	case c != '-' && !isDigit(c):
		return perr(ProblemID, `"id" must be a string or an integer`)
	}
	digits := bytes.TrimPrefix(id, []byte("-"))
	for _, d := range digits {
		if !isDigit(d) {
			return perr(ProblemID, `"id" must be a string or an integer, not a fraction or exponent`)
		}
	}
	if string(id) == "-0" {
		return perr(ProblemID, `"id" -0 is not a canonical integer`)
	}
	if len(digits) > len(maxSafeInteger) || (len(digits) == len(maxSafeInteger) && string(digits) > maxSafeInteger) {
		return perr(ProblemID, `"id" is outside ±(2^53-1), the integers every client reads exactly`)
	}
	return nil
}
