package mcp

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Header names ParseRequest reads, lower-cased as Envoy sends them.
const (
	HeaderContentType     = "content-type"
	HeaderContentEncoding = "content-encoding"
	HeaderProtocolVersion = "mcp-protocol-version"
	HeaderMethod          = "mcp-method"
	HeaderName            = "mcp-name"
)

type headerValue struct {
	value   string
	present bool
}

// headers are the request headers ParseRequest acts on.
type headers struct {
	contentType, contentEncoding, version, method, name headerValue
}

// readHeaders picks our headers out of the map in one pass, matching names
// case-insensitively (ASCII only: header names are tokens). Two entries for
// one name (possible only in a map not built by Envoy, which joins repeats
// with commas) are refused.
func readHeaders(all map[string]string) (headers, *ParseError) {
	var h headers
	for k, v := range all {
		slot := h.slot(k)
		if slot == nil {
			continue
		}
		if slot.present {
			return h, perr(ProblemHeaderMismatch, "the %s header appears more than once", clip(k))
		}
		*slot = headerValue{value: strings.Trim(v, " \t"), present: true}
	}
	return h, nil
}

// slot returns where header name k is kept, nil for headers we ignore.
func (h *headers) slot(k string) *headerValue {
	var name string
	var slot *headerValue
	switch len(k) { // every name we read has a different length
	case len(HeaderContentType):
		name, slot = HeaderContentType, &h.contentType
	case len(HeaderContentEncoding):
		name, slot = HeaderContentEncoding, &h.contentEncoding
	case len(HeaderProtocolVersion):
		name, slot = HeaderProtocolVersion, &h.version
	case len(HeaderMethod):
		name, slot = HeaderMethod, &h.method
	case len(HeaderName):
		name, slot = HeaderName, &h.name
	default:
		return nil
	}
	for i := 0; i < len(k); i++ {
		if lowerASCII(k[i]) != name[i] {
			return nil
		}
	}
	return slot
}

// checkEntity refuses bodies the gateway could not read as the upstream
// will: compressed, or not declared as UTF-8 JSON.
func (h *headers) checkEntity() *ParseError {
	if ce := h.contentEncoding; ce.present && !strings.EqualFold(ce.value, "identity") {
		return perr(ProblemContentEncoding, "the body is sent with Content-Encoding %s; the gateway cannot inspect compressed bodies, "+
			"so send it uncompressed", clip(ce.value))
	}
	if !h.contentType.present {
		return perr(ProblemContentType, "the Content-Type header is missing; MCP messages are sent as application/json")
	}
	return checkContentType(h.contentType.value)
}

// checkContentType accepts application/json with optional parameters; a
// charset parameter, if any, must be UTF-8, the only encoding JSON allows.
func checkContentType(v string) *ParseError {
	mediaType, params, _ := strings.Cut(v, ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), "application/json") {
		return perr(ProblemContentType, "Content-Type %s is not application/json", clip(v))
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			return perr(ProblemContentType, "Content-Type parameter %s is not name=value", clip(p))
		}
		if !strings.EqualFold(strings.TrimSpace(name), "charset") {
			continue
		}
		if cs := strings.Trim(strings.TrimSpace(value), `"`); !strings.EqualFold(cs, "utf-8") {
			return perr(ProblemContentType, "Content-Type charset %s is not utf-8; JSON bodies are UTF-8", clip(cs))
		}
	}
	return nil
}

// Markers of a base64-encoded mirror header value (MCP 2026-07-28, case
// sensitive): =?base64?<standard base64 of the UTF-8 value>?=
const (
	b64Prefix = "=?base64?"
	b64Suffix = "?="
)

// mirrorValue returns a mirror header's value as the body would hold it:
// plain values must be visible ASCII (or space and tab), and encoded ones
// are decoded and must be UTF-8.
func mirrorValue(name, v string) (string, *ParseError) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return "", perr(ProblemHeaderMismatch, "the %s header holds a byte outside visible ASCII; "+
				"such values are sent as %s...%s", name, b64Prefix, b64Suffix)
		}
	}
	if len(v) < len(b64Prefix)+len(b64Suffix) || !strings.HasPrefix(v, b64Prefix) || !strings.HasSuffix(v, b64Suffix) {
		return v, nil
	}
	decoded, err := base64.StdEncoding.Strict().DecodeString(v[len(b64Prefix) : len(v)-len(b64Suffix)])
	if err != nil {
		return "", perr(ProblemHeaderMismatch, "the %s header is marked base64 but is not valid padded standard base64", name)
	}
	if !utf8.Valid(decoded) {
		return "", perr(ProblemHeaderMismatch, "the %s header decodes to bytes that are not UTF-8", name)
	}
	return string(decoded), nil
}
