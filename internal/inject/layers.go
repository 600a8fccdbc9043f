package inject

import (
	"encoding/base64"
	"encoding/hex"
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// layer is hidden text found inside the scanned text: a decoded blob or a
// run of tag characters. Its findings are reported at span, the blob's
// position in the text it was found in.
type layer struct {
	kind Layer
	span [2]int
	text string
}

// Thresholds for treating a run as an encoded blob. Shorter runs are common
// in ordinary text (identifiers, hashes) and too short to carry an
// instruction worth finding.
const (
	minBase64Run   = 20
	minHexRun      = 32
	minURLEscapes  = 3
	minEntities    = 4
	maxEntityGap   = 8
	maxLayersPerOp = 64
)

var (
	base64Byte [256]bool
	hexByte    [256]bool
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		base64Byte[c] = alnum || b == '+' || b == '/' || b == '-' || b == '_'
		hexByte[c] = b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' || b >= '0' && b <= '9'
	}
}

// findLayers finds encoded blobs in s (base64, hex, URL escapes, numeric
// HTML entities) whose decoding is readable text, decoding at most budget
// bytes in total. dropped reports that the budget or the layer cap stopped
// the search, so some blobs were not examined.
func findLayers(s string, budget int) (layers []layer, dropped bool) {
	lf := &layerFinder{budget: budget}
	if lf.runs(s) {
		lf.escapes(s)
	}
	return lf.out, lf.dropped
}

// layerFinder collects layers within a decoding budget.
type layerFinder struct {
	out     []layer
	budget  int
	dropped bool
}

// add records a layer; false means the budget or the layer cap is spent
// and the search should stop.
func (lf *layerFinder) add(kind Layer, start, end int, text string) bool {
	if len(lf.out) >= maxLayersPerOp || len(text) > lf.budget {
		lf.dropped = true
		return false
	}
	lf.budget -= len(text)
	lf.out = append(lf.out, layer{kind: kind, span: [2]int{start, end}, text: text})
	return true
}

// runs decodes maximal runs of base64 (or hex) characters in one pass.
func (lf *layerFinder) runs(s string) bool {
	for i := 0; i < len(s); {
		if !base64Byte[s[i]] {
			i++
			continue
		}
		j := i
		allHex := true
		for j < len(s) && base64Byte[s[j]] {
			allHex = allHex && hexByte[s[j]]
			j++
		}
		end := j
		for end < len(s) && end-j < 2 && s[end] == '=' {
			end++
		}
		if j-i >= minBase64Run {
			if d, ok := decodeRun(s[i:j], allHex); ok && !lf.add(d.kind, i, end, d.text) {
				return false
			}
		}
		i = end
	}
	return true
}

type decoded struct {
	kind Layer
	text string
}

func decodeRun(run string, allHex bool) (decoded, bool) {
	if allHex && len(run) >= minHexRun && len(run)%2 == 0 {
		if b, err := hex.DecodeString(run); err == nil && readable(b) {
			return decoded{LayerHex, string(b)}, true
		}
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(run, "-_") {
		if strings.ContainsAny(run, "+/") {
			return decoded{}, false
		}
		enc = base64.RawURLEncoding
	}
	if len(run)%4 == 1 {
		run = run[:len(run)-1]
	}
	b, err := enc.DecodeString(run)
	if err != nil || !readable(b) {
		return decoded{}, false
	}
	return decoded{LayerBase64, string(b)}, true
}

// escapes finds whitespace-free runs holding several %XX escapes, and
// stretches of numeric HTML entities, and decodes them.
func (lf *layerFinder) escapes(s string) {
	for i := 0; i < len(s); {
		if s[i] <= ' ' {
			i++
			continue
		}
		j, escapes := i, 0
		for j < len(s) && s[j] > ' ' {
			if s[j] == '%' && j+2 < len(s) && hexByte[s[j+1]] && hexByte[s[j+2]] {
				escapes++
			}
			j++
		}
		if escapes >= minURLEscapes {
			if b := percentDecode(s[i:j]); readable(b) && !lf.add(LayerURL, i, j, string(b)) {
				return
			}
		}
		i = j
	}
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], "&#")
		if k < 0 {
			break
		}
		start, end, n := i+k, i+k, 0
		for {
			e := entityEnd(s, end)
			if e < 0 {
				break
			}
			n++
			end = e
			next := strings.Index(s[end:min(len(s), end+maxEntityGap+2)], "&#")
			if next < 0 {
				break
			}
			end += next
		}
		if n >= minEntities {
			// Decode the whole line: an attacker encodes a keyword or two
			// and leaves the rest of the sentence plain.
			ls, le := lineAround(s, start, end)
			if !lf.add(LayerEntities, ls, le, html.UnescapeString(s[ls:le])) {
				return
			}
			end = max(end, le)
		}
		i = max(end, start+2)
	}
}

// maxLineWiden bounds how far lineAround looks for a line break.
const maxLineWiden = 1024

// lineAround widens [start, end) to the enclosing line, at most
// maxLineWiden bytes each way.
func lineAround(s string, start, end int) (int, int) {
	lo := max(0, start-maxLineWiden)
	if i := strings.LastIndexByte(s[lo:start], '\n'); i >= 0 {
		lo += i + 1
	}
	hi := min(len(s), end+maxLineWiden)
	if i := strings.IndexByte(s[end:hi], '\n'); i >= 0 {
		hi = end + i
	}
	return lo, hi
}

// entityEnd returns the end of a numeric entity (&#105; or &#x69;) at i, or
// -1.
func entityEnd(s string, i int) int {
	if !strings.HasPrefix(s[i:], "&#") {
		return -1
	}
	j := i + 2
	isHex := j < len(s) && (s[j] == 'x' || s[j] == 'X')
	if isHex {
		j++
	}
	d := j
	for j < len(s) && j-d < 8 && (hexByte[s[j]] && isHex || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j == d || j >= len(s) || s[j] != ';' {
		return -1
	}
	return j + 1
}

// percentDecode decodes valid %XX escapes and '+' and keeps everything else,
// so one malformed escape does not hide the rest.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+2 < len(s) && hexByte[s[i+1]] && hexByte[s[i+2]]:
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case s[i] == '+':
			out = append(out, ' ')
		default:
			out = append(out, s[i])
		}
	}
	return out
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// readable reports whether decoded bytes look like text someone meant a
// model to read: valid UTF-8, no control characters other than whitespace,
// mostly letters, digits, spaces and punctuation, and a few letters at
// least. Binary blobs (images, keys, hashes) fail this and are left alone.
func readable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	var runes, good, letters int
	for _, r := range string(b) {
		runes++
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			good++
		case unicode.IsControl(r) || r == utf8.RuneError:
			return false
		case unicode.IsLetter(r):
			letters++
			good++
		case unicode.IsPrint(r):
			good++
		}
	}
	return letters >= 4 && good*10 >= runes*9
}
