package standin

import (
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// headerEntry is one header as Envoy stores it: lower-case key, raw value.
type headerEntry struct {
	key, value string
}

// headerMap is an ordered multimap like Envoy's HeaderMap: pseudo-headers
// and duplicates are kept as separate entries in arrival order.
type headerMap struct {
	entries []headerEntry
}

func newHeaderMap(kv ...string) *headerMap {
	m := &headerMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.add(kv[i], kv[i+1])
	}
	return m
}

func (m *headerMap) get(key string) (string, bool) {
	for _, e := range m.entries {
		if e.key == key {
			return e.value, true
		}
	}
	return "", false
}

func (m *headerMap) value(key string) string {
	v, _ := m.get(key)
	return v
}

func (m *headerMap) has(key string) bool {
	_, ok := m.get(key)
	return ok
}

// set overwrites the first entry with key and drops the others (Envoy's
// setCopy), or appends a new entry.
func (m *headerMap) set(key, value string) {
	found := false
	out := m.entries[:0]
	for _, e := range m.entries {
		if e.key == key {
			if found {
				continue
			}
			found = true
			e.value = value
		}
		out = append(out, e)
	}
	m.entries = out
	if !found {
		m.add(key, value)
	}
}

// add appends another entry, even if key already exists (Envoy's addCopy).
func (m *headerMap) add(key, value string) {
	m.entries = append(m.entries, headerEntry{key: key, value: value})
}

// appendValue comma-joins value into the first existing entry (Envoy's
// appendCopy as ext_authz uses it); it reports false and does nothing when
// the header is absent.
func (m *headerMap) appendValue(key, value string) bool {
	for i, e := range m.entries {
		if e.key == key {
			if e.value == "" {
				m.entries[i].value = value
			} else if value != "" {
				m.entries[i].value = e.value + "," + value
			}
			return true
		}
	}
	return false
}

func (m *headerMap) remove(key string) {
	out := m.entries[:0]
	for _, e := range m.entries {
		if e.key != key {
			out = append(out, e)
		}
	}
	m.entries = out
}

func (m *headerMap) count() int { return len(m.entries) }

// byteSize approximates Envoy's header map byte size (keys plus values).
func (m *headerMap) byteSize() int {
	n := 0
	for _, e := range m.entries {
		n += len(e.key) + len(e.value)
	}
	return n
}

// toProto renders the map the way ext_proc sends headers: every entry,
// value in raw_value only.
func (m *headerMap) toProto() *corev3.HeaderMap {
	out := &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, 0, len(m.entries))}
	for _, e := range m.entries {
		out.Headers = append(out.Headers, &corev3.HeaderValue{Key: e.key, RawValue: []byte(e.value)})
	}
	return out
}

// Envoy's default HCM header limits (max_request_headers_kb, max_headers_count).
const (
	maxHeadersCount = 100
	maxHeadersBytes = 60 * 1024
)

func (m *headerMap) overLimits() bool {
	return m.count() > maxHeadersCount || m.byteSize() > maxHeadersBytes
}

var pseudoHeaders = map[string]bool{
	":authority": true, ":path": true, ":method": true, ":scheme": true, ":status": true, ":protocol": true,
}

func isPseudo(key string) bool { return strings.HasPrefix(key, ":") }

// validHeaderName mirrors nghttp2's check: a lower-case token, or a known
// pseudo-header.
func validHeaderName(key string) bool {
	if key == "" {
		return false
	}
	if key[0] == ':' {
		return pseudoHeaders[key]
	}
	for i := 0; i < len(key); i++ {
		if !isTokenByte(key[i]) || ('A' <= key[i] && key[i] <= 'Z') {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue mirrors nghttp2's value check: HTAB, visible ASCII and
// obs-text; no NUL, CR, LF or other control characters.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\t' || (c >= 0x20 && c != 0x7f) {
			continue
		}
		return false
	}
	return true
}

// removableHeader is Envoy's HeaderUtility::isRemovableHeader: pseudo-headers
// and host can never be removed by a filter's mutation.
func removableHeader(key string) bool {
	return key != "" && key[0] != ':' && key != "host"
}

// sanitizeUTF8 replaces every byte that is not part of valid UTF-8 with '!',
// as Envoy's MessageUtil::sanitizeUtf8String does.
func sanitizeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteByte('!')
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
