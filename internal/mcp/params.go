package mcp

import "bytes"

// paramKeys are the params keys the gateway reads or the protocol defines
// for the methods it governs; a key that differs from one only by case is
// refused, whatever the method, because Go's encoding/json would match it
// to the same struct field and a strict server would not.
var paramKeys = []string{
	"name", "uri", "arguments", "_meta", "task", "protocolVersion",
	"capabilities", "clientInfo", "inputResponses", "requestState",
}

// MetaProtocolVersion is the params._meta key in which MCP 2026-07-28
// requests name their revision.
const MetaProtocolVersion = "io.modelcontextprotocol/protocolVersion"

// metaPrefix is the reserved _meta prefix; keys whose prefix matches it
// only case-insensitively are refused, which covers protocol keys to come.
const metaPrefix = "io.modelcontextprotocol/"

// metaKeys are the other _meta keys the protocol (or OTel propagation) defines.
var metaKeys = []string{MetaProtocolVersion, "progressToken", "traceparent", "tracestate", "baggage"}

// paramMembers holds the member index of each params key we read, -1 when absent.
type paramMembers struct{ name, uri, arguments, meta, protocolVersion int }

func (r *reader) paramMembers(params int) (paramMembers, *ParseError) {
	p := paramMembers{-1, -1, -1, -1, -1}
	if params < 0 {
		return p, nil
	}
	for i := range r.s.members {
		mb := &r.s.members[i]
		if int(mb.parent) != params {
			continue
		}
		key := r.s.keyBytes(mb.key)
		switch string(key) {
		case "name":
			p.name = i
		case "uri":
			p.uri = i
		case "arguments":
			p.arguments = i
		case "_meta":
			p.meta = i
		case "protocolVersion":
			p.protocolVersion = i
		default:
			if err := caseVariant(key, paramKeys, "params."); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// params reads params (member index params, -1 when absent) into m and
// r.facts, enforcing each governed method's required targets.
func (r *reader) params(m *Message, params int) *ParseError {
	p, err := r.paramMembers(params)
	if err != nil {
		return err
	}
	r.facts.name, r.facts.uri = r.optRaw(p.name), r.optRaw(p.uri)
	if p.meta >= 0 {
		if err := r.meta(m, p.meta); err != nil {
			return err
		}
	}
	switch m.Method {
	case "tools/call":
		if m.Params == nil {
			return perr(ProblemParams, `tools/call needs "params"`)
		}
		if m.ToolName, err = r.target(p.name, "params.name", ProblemToolName); err != nil {
			return err
		}
		m.Arguments, err = r.object(p.arguments, "params.arguments")
	case "prompts/get":
		if m.Name, err = r.target(p.name, "params.name", ProblemParams); err != nil {
			return err
		}
		m.Arguments, err = r.object(p.arguments, "params.arguments")
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		m.URI, err = r.target(p.uri, "params.uri", ProblemParams)
	case "initialize":
		if p.protocolVersion < 0 {
			return perr(ProblemParams, "initialize needs params.protocolVersion")
		}
		if r.facts.initVersion, err = r.version(p.protocolVersion, "params.protocolVersion"); err != nil {
			return err
		}
		r.facts.hasInitVersion = true
		if m.ProtocolVersion == "" {
			m.ProtocolVersion = r.facts.initVersion
		}
	}
	return err
}

func (r *reader) optRaw(i int) []byte {
	if i < 0 {
		return nil
	}
	return r.raw(i)
}

// target reads a required, non-empty string naming what a method acts on.
func (r *reader) target(i int, field string, p Problem) (string, *ParseError) {
	if i < 0 {
		return "", perr(p, "%s is required", field)
	}
	raw := r.raw(i)
	if raw[0] != '"' || len(raw) == 2 {
		return "", perr(p, "%s must be a non-empty string", field)
	}
	return stringValue(raw), nil
}

// object returns an optional member's raw value, which must be an object.
func (r *reader) object(i int, field string) ([]byte, *ParseError) {
	if i < 0 {
		return nil, nil
	}
	raw := r.raw(i)
	if raw[0] != '{' {
		return nil, perr(ProblemParams, "%s must be an object", field)
	}
	return raw, nil
}

// version reads a protocol version string (not yet checked as supported).
func (r *reader) version(i int, field string) (string, *ParseError) {
	raw := r.raw(i)
	if raw[0] != '"' {
		return "", perr(ProblemParams, "%s must be a string", field)
	}
	if rev, ok := revisionOf(raw[1 : len(raw)-1]); ok {
		return rev.String(), nil // interned: no allocation on the hot path
	}
	return stringValue(raw), nil
}

// meta reads params._meta: its protocol version, and no case variants of
// protocol keys.
func (r *reader) meta(m *Message, meta int) *ParseError {
	var err *ParseError
	if m.Meta, err = r.object(meta, "params._meta"); err != nil {
		return err
	}
	for i := range r.s.members {
		mb := &r.s.members[i]
		if int(mb.parent) != meta {
			continue
		}
		key := r.s.keyBytes(mb.key)
		if string(key) == MetaProtocolVersion {
			if r.facts.metaVersion, err = r.version(i, "params._meta."+MetaProtocolVersion); err != nil {
				return err
			}
			r.facts.hasMetaVersion = true
			m.ProtocolVersion = r.facts.metaVersion
			continue
		}
		if !bytes.HasPrefix(key, []byte(metaPrefix)) && hasPrefixFold(key, metaPrefix) {
			return perr(ProblemCaseVariant, "params._meta key %s is a case variant of the reserved prefix %q", clip(key), metaPrefix)
		}
		if err := caseVariant(key, metaKeys, "params._meta."); err != nil {
			return err
		}
	}
	return nil
}

// caseVariant rejects a key that differs from a protocol key only by case,
// under the Unicode folding encoding/json uses to match struct fields (so
// "argument\u017f", with a long s, is a variant of "arguments").
func caseVariant(key []byte, known []string, prefix string) *ParseError {
	ascii := !hasNonASCII(key)
	for _, want := range known {
		if ascii && len(key) != len(want) {
			continue // ASCII folds only to ASCII of the same length
		}
		if string(key) != want && equalFold(key, want) {
			return perr(ProblemCaseVariant, "key %s is a case variant of %q", clip(prefix+string(key)), prefix+want)
		}
	}
	return nil
}

// methodName returns the method, without allocating for the common ones.
func methodName(raw []byte) string {
	switch string(raw) {
	case `"tools/call"`:
		return "tools/call"
	case `"tools/list"`:
		return "tools/list"
	case `"initialize"`:
		return "initialize"
	case `"notifications/initialized"`:
		return "notifications/initialized"
	case `"ping"`:
		return "ping"
	case `"resources/read"`:
		return "resources/read"
	case `"prompts/get"`:
		return "prompts/get"
	case `"server/discover"`:
		return "server/discover"
	}
	return stringValue(raw)
}
