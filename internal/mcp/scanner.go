package mcp

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// The scanner validates a JSON text in one pass (RFC 8259 grammar, UTF-8,
// duplicate keys in every object, nesting depth) and records where the
// members of the first few object levels sit, so the envelope, params and
// params._meta can be read afterwards from spans without parsing again.
//
// It accepts exactly what encoding/json accepts, minus the documented extra
// rejections (FuzzScannerAgreesWithEncodingJSON holds it to that):
// duplicate keys (compared after unescaping), invalid UTF-8 inside strings,
// and nesting deeper than MaxDepth. A byte order mark is refused before the
// scanner runs; encoding/json refuses it too.

// recordDepth is how many object levels get their members recorded:
// envelope (1), params (2), and params._meta / params.arguments (3).
const recordDepth = 3

// linearKeys is the object size up to which duplicate keys are found by
// comparing with every earlier key; larger objects switch to a set so a
// body with many keys costs linear, not quadratic, time.
const linearKeys = 16

// Values of member.parent that are not member indexes.
const (
	rootParent = -1 // the member belongs to the top-level object
	noRecord   = -2 // the object's members are not recorded
)

// keyRef locates a decoded key: in the input when it had no escapes, else
// in the scanner's scratch buffer. Offsets rather than slices keep the
// scanner free of pointers the garbage collector would have to trace.
type keyRef struct {
	start, end int32
	decoded    bool // in scratch
}

// member is one key/value pair of a recorded object.
type member struct {
	key        keyRef
	start, end int32 // the value's span in the input
	parent     int32 // index of the member holding the object, or rootParent
}

// maxInput is the largest input the int32 offsets can describe.
const maxInput = 1<<31 - 1

type scanner struct {
	data    []byte
	pos     int
	depth   int
	keys    []keyRef // keys of every open object, innermost last
	members []member
	scratch []byte // decoded keys that had escapes

	// Backing storage sized for a typical request, so scanning one
	// allocates the scanner and nothing else.
	keyBuf    [24]keyRef
	memberBuf [32]member
}

func newScanner(data []byte) *scanner {
	s := &scanner{data: data}
	s.keys = s.keyBuf[:0]
	s.members = s.memberBuf[:0]
	return s
}

// plainByte marks bytes that may appear in a string without a closer look.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// keyBytes returns a recorded key.
func (s *scanner) keyBytes(k keyRef) []byte {
	if k.decoded {
		return s.scratch[k.start:k.end:k.end]
	}
	return s.data[k.start:k.end:k.end]
}

// valueBytes returns member i's raw value.
func (s *scanner) valueBytes(i int) []byte {
	m := &s.members[i]
	return s.data[m.start:m.end:m.end]
}

// scan validates the whole input: one value, surrounded only by whitespace.
func (s *scanner) scan() *ParseError {
	if len(s.data) > maxInput {
		return perr(ProblemTooLarge, "the body is %d bytes; the gateway reads at most %d", len(s.data), maxInput)
	}
	s.skipSpace()
	if s.pos == len(s.data) {
		return s.syntax("the body holds no JSON value")
	}
	if err := s.value(rootParent); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return perr(ProblemTrailingData, "data follows the JSON-RPC message at byte %d", s.pos)
	}
	return nil
}

// value scans one value. rec is the member index the value belongs to when
// an object here should have its members recorded, else noRecord.
func (s *scanner) value(rec int) *ParseError {
	if s.pos == len(s.data) {
		return s.syntax("unexpected end of input; a value was expected")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(rec)
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.unexpected("a value")
}

func (s *scanner) open() *ParseError {
	if s.depth >= MaxDepth {
		return perr(ProblemTooDeep, "nesting deeper than %d levels", MaxDepth)
	}
	s.depth++
	s.pos++
	s.skipSpace()
	return nil
}

func (s *scanner) object(rec int) *ParseError {
	if err := s.open(); err != nil {
		return err
	}
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return nil
	}
	base := len(s.keys)
	var set map[string]struct{}
	for {
		key, err := s.key()
		if err != nil {
			return err
		}
		if set, err = s.addKey(base, set, key); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos == len(s.data) || s.data[s.pos] != ':' {
			return s.unexpected("':' after an object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.memberValue(rec, key); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos == len(s.data) {
			return s.syntax("unexpected end of input inside an object")
		}
		if c := s.data[s.pos]; c == '}' {
			s.pos++
			break
		} else if c != ',' {
			return s.unexpected("',' or '}' in an object")
		}
		s.pos++
		s.skipSpace()
	}
	s.keys = s.keys[:base]
	s.depth--
	return nil
}

// memberValue scans a member's value, recording the member when its object
// sits on the recorded levels.
func (s *scanner) memberValue(rec int, key keyRef) *ParseError {
	if rec == noRecord || s.depth > recordDepth {
		return s.value(noRecord)
	}
	i := len(s.members)
	s.members = append(s.members, member{key: key, start: int32(s.pos), parent: int32(rec)})
	if err := s.value(i); err != nil {
		return err
	}
	s.members[i].end = int32(s.pos)
	return nil
}

// addKey rejects a key already seen in the object whose keys start at
// s.keys[base], then remembers it.
func (s *scanner) addKey(base int, set map[string]struct{}, ref keyRef) (map[string]struct{}, *ParseError) {
	key := s.keyBytes(ref)
	if set != nil {
		if _, dup := set[string(key)]; dup {
			return nil, duplicateKey(key)
		}
		set[string(key)] = struct{}{}
		return set, nil
	}
	seen := s.keys[base:]
	for _, k := range seen {
		if bytes.Equal(s.keyBytes(k), key) {
			return nil, duplicateKey(key)
		}
	}
	s.keys = append(s.keys, ref)
	if len(seen) < linearKeys {
		return nil, nil
	}
	set = make(map[string]struct{}, 2*linearKeys)
	for _, k := range s.keys[base:] {
		set[string(s.keyBytes(k))] = struct{}{}
	}
	s.keys = s.keys[:base] // the set holds them now
	return set, nil
}

func duplicateKey(key []byte) *ParseError {
	return perr(ProblemDuplicateKey, "key %s appears twice in one object", clip(key))
}

func (s *scanner) array() *ParseError {
	if err := s.open(); err != nil {
		return err
	}
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(noRecord); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos == len(s.data) {
			return s.syntax("unexpected end of input inside an array")
		}
		if c := s.data[s.pos]; c == ']' {
			s.pos++
			break
		} else if c != ',' {
			return s.unexpected("',' or ']' in an array")
		}
		s.pos++
		s.skipSpace()
	}
	s.depth--
	return nil
}

// key scans an object key and locates its decoded form.
func (s *scanner) key() (keyRef, *ParseError) {
	if s.pos == len(s.data) || s.data[s.pos] != '"' {
		return keyRef{}, s.unexpected("a string object key")
	}
	start := s.pos
	escaped, err := s.str()
	if err != nil {
		return keyRef{}, err
	}
	if !escaped {
		return keyRef{start: int32(start + 1), end: int32(s.pos - 1)}, nil
	}
	n := len(s.scratch)
	s.scratch = AppendUnescaped(s.scratch, s.data[start+1:s.pos-1])
	return keyRef{start: int32(n), end: int32(len(s.scratch)), decoded: true}, nil
}

// str scans a string starting at its opening quote and reports whether it
// contains escapes.
func (s *scanner) str() (escaped bool, err *ParseError) {
	data := s.data
	i := s.pos + 1
	for i < len(data) {
		c := data[i]
		switch {
		case plainByte[c]:
			i++
		case c == '"':
			s.pos = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			n, err := s.escape(i)
			if err != nil {
				return false, err
			}
			i += n
		case c < 0x20:
			return false, perr(ProblemSyntax, "control character 0x%02x inside a string at byte %d", c, i)
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return false, perr(ProblemInvalidUTF8, "invalid UTF-8 at byte %d", i)
			}
			i += size
		}
	}
	return false, s.syntax("unexpected end of input inside a string")
}

// escape validates the escape sequence at data[i] (a backslash) and returns
// its length.
func (s *scanner) escape(i int) (int, *ParseError) {
	if i+1 >= len(s.data) {
		return 0, s.syntax("unexpected end of input inside a string")
	}
	switch s.data[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if i+6 > len(s.data) {
			return 0, s.syntax("unexpected end of input inside a \\u escape")
		}
		for _, h := range s.data[i+2 : i+6] {
			if hexValue(h) < 0 {
				return 0, perr(ProblemSyntax, "invalid \\u escape at byte %d", i)
			}
		}
		return 6, nil
	}
	return 0, perr(ProblemSyntax, "invalid escape at byte %d", i)
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() *ParseError {
	d := s.data
	i := s.pos
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return s.numberError(i)
	}
	if i < len(d) && d[i] == '.' {
		if i++; i == len(d) || !isDigit(d[i]) {
			return s.numberError(i)
		}
		i = digits(d, i)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		if i++; i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i == len(d) || !isDigit(d[i]) {
			return s.numberError(i)
		}
		i = digits(d, i)
	}
	s.pos = i
	return nil
}

func (s *scanner) numberError(i int) *ParseError {
	s.pos = i
	if i == len(s.data) {
		return s.syntax("unexpected end of input inside a number")
	}
	return s.unexpected("a digit")
}

func digits(d []byte, i int) int {
	for i < len(d) && isDigit(d[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) literal(word string) *ParseError {
	end := s.pos + len(word)
	if end > len(s.data) || string(s.data[s.pos:end]) != word {
		return perr(ProblemSyntax, "invalid literal at byte %d; expected %s", s.pos, word)
	}
	s.pos = end
	return nil
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) syntax(msg string) *ParseError {
	return perr(ProblemSyntax, "invalid JSON at byte %d: %s", s.pos, msg)
}

// unexpected describes the byte at s.pos without echoing more than it.
func (s *scanner) unexpected(want string) *ParseError {
	if s.pos == len(s.data) {
		return s.syntax("unexpected end of input; expected " + want)
	}
	c := s.data[s.pos]
	if c >= 0x80 {
		if r, size := utf8.DecodeRune(s.data[s.pos:]); r == utf8.RuneError && size == 1 {
			return perr(ProblemInvalidUTF8, "invalid UTF-8 at byte %d", s.pos)
		}
	}
	if c > 0x20 && c < 0x7f {
		return s.syntax(fmt.Sprintf("unexpected %q; expected %s", c, want))
	}
	return s.syntax(fmt.Sprintf("unexpected byte 0x%02x; expected %s", c, want))
}

func hexValue(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}
