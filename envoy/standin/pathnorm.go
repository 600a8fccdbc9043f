package standin

import (
	"errors"
	"strings"
)

var errBadPath = errors.New("path normalization failed")

// normalizeRequestPath applies the HCM's path options to the path part of
// :path (no query), in Envoy's order: the escaped-slash action, RFC 3986
// normalisation, then slash merging.
func normalizeRequestPath(path string, h *hcmConfig) (string, error) {
	if path == "" || path[0] != '/' {
		return "", errBadPath
	}
	switch h.escapedSlashes {
	case slashesReject:
		if hasEscapedSlash(path) {
			return "", errBadPath
		}
	case slashesUnescapeAndForward:
		path = unescapeSlashes(path)
	}
	if h.normalizePath {
		var err error
		if path, err = canonicalPath(path); err != nil {
			return "", err
		}
	}
	if h.mergeSlashes {
		path = mergeSlashes(path)
	}
	return path, nil
}

func hasEscapedSlash(path string) bool {
	l := strings.ToLower(path)
	return strings.Contains(l, "%2f") || strings.Contains(l, "%5c")
}

func unescapeSlashes(path string) string {
	r := strings.NewReplacer("%2F", "/", "%2f", "/", "%5C", `\`, "%5c", `\`)
	return r.Replace(path)
}

// canonicalPath is the path canonicalisation Envoy's normalize_path applies
// (Chromium's URL path canonicaliser): percent-encoded unreserved
// characters are decoded, other escapes get upper-case hex, characters not
// allowed in a path are escaped, a backslash is a path separator, and dot
// segments are removed. A malformed escape fails the request (400).
func canonicalPath(path string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return "", errBadPath
			}
			v := unhex(path[i+1])<<4 | unhex(path[i+2])
			if isUnreserved(v) {
				b.WriteByte(v)
			} else {
				b.WriteByte('%')
				b.WriteString(strings.ToUpper(path[i+1 : i+3]))
			}
			i += 2
		case c == '\\':
			b.WriteByte('/')
		case c <= 0x20 || c >= 0x7f || strings.IndexByte("\"<>`{}", c) >= 0:
			b.WriteString("%" + strings.ToUpper(hexByte(c)))
		default:
			b.WriteByte(c)
		}
	}
	return removeDotSegments(b.String()), nil
}

// removeDotSegments is RFC 3986 section 5.2.4 on an absolute path.
func removeDotSegments(path string) string {
	segs := strings.Split(path[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

func mergeSlashes(path string) string {
	var b strings.Builder
	prev := byte(0)
	for i := 0; i < len(path); i++ {
		if path[i] == '/' && prev == '/' {
			continue
		}
		prev = path[i]
		b.WriteByte(path[i])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func hexByte(c byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
