package mcp

import "strings"

// Revision is an MCP protocol revision the gateway governs.
type Revision uint8

// Revisions. 2025-03-26 and earlier are not supported: they allow batches
// and predate the MCP-Protocol-Version header.
const (
	RevisionUnknown  Revision = iota // Parse sees no headers and leaves this
	Revision20250618                 // initialize handshake, sessions
	Revision20251125                 // as 2025-06-18, plus URL elicitation and tasks
	Revision20260728                 // stateless; version in _meta; mirror headers required
)

var revisionNames = [...]string{"unknown", "2025-06-18", "2025-11-25", "2026-07-28"}

func (r Revision) String() string {
	if int(r) < len(revisionNames) {
		return revisionNames[r]
	}
	return "unknown"
}

// SupportedVersions lists the protocol versions ParseRequest accepts,
// newest first: the "supported" list of an UnsupportedProtocolVersion error.
func SupportedVersions() []string {
	return []string{Revision20260728.String(), Revision20251125.String(), Revision20250618.String()}
}

// revisionOf maps a version string to a supported revision.
func revisionOf[T string | []byte](v T) (Revision, bool) {
	switch string(v) {
	case "2025-06-18":
		return Revision20250618, true
	case "2025-11-25":
		return Revision20251125, true
	case "2026-07-28":
		return Revision20260728, true
	}
	return RevisionUnknown, false
}

// HTTPRequest is the part of an HTTP request ParseRequest reads. It is
// built from whatever carried the request: Envoy's CheckRequest (whose
// header names are lower-cased), an ext_proc message, or a test.
type HTTPRequest struct {
	Method string
	// Headers maps names, in any case, to values. A name that appears
	// twice in different cases is refused, not guessed at.
	Headers       map[string]string
	Body          []byte
	BodyTruncated bool // Envoy sent only part of the body
}

// ParseRequest reads one MCP POST over Streamable HTTP (revisions
// 2025-06-18, 2025-11-25, 2026-07-28): the transport headers, the body as
// Parse reads it, the protocol revision, and that the mirror headers
// (Mcp-Method, Mcp-Name) agree with the body. The body may be at most limit
// bytes (no limit when limit <= 0). Every refusal is a *ParseError.
func ParseRequest(r HTTPRequest, limit int) (*Message, error) {
	m, pe := parseRequest(r, limit)
	if pe != nil {
		return nil, pe
	}
	return m, nil
}

func parseRequest(r HTTPRequest, limit int) (*Message, *ParseError) {
	if r.Method != "POST" {
		return nil, perr(ProblemHTTPMethod, "MCP messages are sent with POST; a %s request carries none", clip(r.Method))
	}
	if r.BodyTruncated {
		return nil, perr(ProblemTruncated, "the gateway received only part of the body, so it cannot check it")
	}
	h, pe := readHeaders(r.Headers)
	if pe != nil {
		return nil, pe
	}
	if pe := h.checkEntity(); pe != nil {
		return nil, pe
	}
	m, facts, pe := parseBody(r.Body, limit)
	if pe != nil {
		return nil, pe
	}
	if pe := resolveRevision(m, &h, &facts); pe != nil {
		pe.ID = m.ID
		return nil, pe
	}
	if pe := checkMirrors(m, &h, &facts); pe != nil {
		pe.ID = m.ID
		return nil, pe
	}
	return m, nil
}

// resolveRevision decides which revision governs the message: the
// MCP-Protocol-Version header when present, else what the body names.
func resolveRevision(m *Message, h *headers, f *bodyFacts) *ParseError {
	var rev Revision
	if h.version.present {
		var ok bool
		if rev, ok = revisionOf(h.version.value); !ok {
			return unsupported("the MCP-Protocol-Version header", h.version.value)
		}
	}
	if f.hasMetaVersion {
		if _, ok := revisionOf(f.metaVersion); !ok {
			return unsupported("params._meta."+MetaProtocolVersion, f.metaVersion)
		}
	}
	if f.hasInitVersion {
		if _, ok := revisionOf(f.initVersion); !ok {
			return unsupported("initialize params.protocolVersion", f.initVersion)
		}
	}
	switch {
	case h.version.present && f.hasMetaVersion && h.version.value != f.metaVersion:
		return perr(ProblemHeaderMismatch, "the MCP-Protocol-Version header %s does not match params._meta.%s %s",
			clip(h.version.value), MetaProtocolVersion, clip(f.metaVersion))
	case h.version.present:
	case f.hasMetaVersion:
		return perr(ProblemHeaderMismatch, "the body names protocol version %s but the MCP-Protocol-Version header is missing; "+
			"every request after initialize carries it", clip(f.metaVersion))
	case f.hasInitVersion:
		rev, _ = revisionOf(f.initVersion)
	default:
		return perr(ProblemUnsupportedVersion, "no MCP-Protocol-Version header and the body names no protocol version; "+
			"MCP then assumes 2025-03-26, which is not supported (supported: %s)", strings.Join(SupportedVersions(), ", "))
	}
	m.Revision, m.ProtocolVersion = rev, rev.String()
	if rev != Revision20260728 {
		return nil
	}
	switch {
	case m.Kind == KindResponse:
		return perr(ProblemMethod, "MCP 2026-07-28 clients send no JSON-RPC responses; server requests became input requests (MRTR)")
	case m.Kind == KindRequest && !f.hasMetaVersion:
		return perr(ProblemParams, "MCP 2026-07-28 requests carry params._meta.%s", MetaProtocolVersion)
	}
	return nil
}

func unsupported(where, v string) *ParseError {
	return perr(ProblemUnsupportedVersion, "%s names protocol version %s, which is not supported (supported: %s)",
		where, clip(v), strings.Join(SupportedVersions(), ", "))
}

// checkMirrors holds Mcp-Method and Mcp-Name to the body: always when they
// are present, and their presence too in 2026-07-28. Authorizing on a
// header the body contradicts is how a call named read_file runs
// delete_repo.
func checkMirrors(m *Message, h *headers, f *bodyFacts) *ParseError {
	required := m.Revision == Revision20260728
	switch {
	case h.method.present:
		v, pe := mirrorValue("Mcp-Method", h.method.value)
		if pe != nil {
			return pe
		}
		if m.Kind == KindResponse {
			return perr(ProblemHeaderMismatch, "the Mcp-Method header is set but the body is a response, which has no method")
		}
		if v != m.Method {
			return perr(ProblemHeaderMismatch, "the Mcp-Method header %s does not match the body's method %s", clip(v), clip(m.Method))
		}
	case required:
		return perr(ProblemHeaderMismatch, "MCP 2026-07-28 requires the Mcp-Method header on every request")
	}
	target, field, ok := nameTarget(m, f)
	switch {
	case h.name.present:
		v, pe := mirrorValue("Mcp-Name", h.name.value)
		if pe != nil {
			return pe
		}
		if !ok {
			return perr(ProblemHeaderMismatch, "the Mcp-Name header is set but the body names no tool, prompt or resource")
		}
		if v != target {
			return perr(ProblemHeaderMismatch, "the Mcp-Name header %s does not match %s %s", clip(v), field, clip(target))
		}
	case required && m.Kind == KindRequest && namesRequired(m.Method):
		return perr(ProblemHeaderMismatch, "MCP 2026-07-28 requires the Mcp-Name header on %s", m.Method)
	}
	return nil
}

// namesRequired reports whether 2026-07-28 requires Mcp-Name on a method.
func namesRequired(method string) bool {
	return method == "tools/call" || method == "prompts/get" || method == "resources/read"
}

// nameTarget is the body value Mcp-Name must equal: the method's target,
// or for other methods a string params.name, else a string params.uri.
func nameTarget(m *Message, f *bodyFacts) (value, field string, ok bool) {
	switch m.Method {
	case "tools/call":
		return m.ToolName, "params.name", true
	case "prompts/get":
		return m.Name, "params.name", true
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return m.URI, "params.uri", true
	}
	if len(f.name) > 0 && f.name[0] == '"' {
		return stringValue(f.name), "params.name", true
	}
	if len(f.uri) > 0 && f.uri[0] == '"' {
		return stringValue(f.uri), "params.uri", true
	}
	return "", "", false
}
