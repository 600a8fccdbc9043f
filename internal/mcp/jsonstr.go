package mcp

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendUnescaped appends the decoded form of raw, the inside of a JSON
// string the scanner has already validated (or a whole validated JSON
// text: every escape in it sits inside a string). It decodes exactly as
// encoding/json does, including its one lenient case: a \u escape of an
// unpaired surrogate becomes U+FFFD. Keys are compared, and targets read,
// in this form, so "n\u0061me" is the key "name".
func AppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := raw[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := unescapeU(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// unescapeU decodes the \uXXXX escape at the start of b, joining a valid
// surrogate pair, and returns the rune and how many bytes it used.
func unescapeU(b []byte) (rune, int) {
	r := hex4(b[2:6])
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if dec := utf16.DecodeRune(r, hex4(b[8:12])); dec != unicode.ReplacementChar {
			return dec, 12
		}
	}
	return unicode.ReplacementChar, 6
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		v := hexValue(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

// stringValue decodes a validated JSON string token (quotes included).
func stringValue(tok []byte) string {
	raw := tok[1 : len(tok)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	return string(AppendUnescaped(make([]byte, 0, len(raw)), raw))
}

// snippetLimit caps how much of a client-sent value an error detail quotes.
const snippetLimit = 64

// clip quotes at most snippetLimit bytes of b (cut at a rune boundary) for
// an error detail, so no detail ever echoes much of what the client sent.
func clip[T string | []byte](b T) string {
	if len(b) <= snippetLimit {
		return strconv.Quote(string(b))
	}
	cut := snippetLimit - 3
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strconv.Quote(string(b[:cut])) + "..."
}

// equalFold reports whether key equals the ASCII string want under Unicode
// simple case folding, the rule encoding/json matches struct fields by.
// ASCII keys are compared without allocating.
func equalFold(key []byte, want string) bool {
	if len(key) == len(want) {
		i := 0
		for ; i < len(key) && key[i] < utf8.RuneSelf; i++ {
			if lowerASCII(key[i]) != lowerASCII(want[i]) {
				return false
			}
		}
		if i == len(key) {
			return true
		}
	}
	// Only non-ASCII runes (K, the Kelvin sign; ſ, the long s) can fold to
	// ASCII letters of another length.
	if !hasNonASCII(key) {
		return false
	}
	return strings.EqualFold(string(key), want)
}

// hasPrefixFold reports whether key starts with the ASCII string prefix
// under Unicode simple case folding.
func hasPrefixFold(key []byte, prefix string) bool {
	end := 0
	for n := 0; n < len(prefix); n++ {
		if end == len(key) {
			return false
		}
		_, size := utf8.DecodeRune(key[end:])
		end += size
	}
	return equalFold(key[:end], prefix)
}

func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
