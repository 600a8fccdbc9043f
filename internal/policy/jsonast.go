package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maxArgumentDepth bounds nesting in tool arguments given to the policy.
const maxArgumentDepth = 64

// jsonToAST converts one JSON value straight into Rego's AST, without the
// map[string]any detour (decode, then convert) that costs most of the
// allocations of building an input. Numbers keep their exact text, as OPA's
// own JSON decoding does. Duplicate keys, invalid UTF-8, excessive nesting
// and trailing data are errors: the policy must see exactly one reading of
// what the agent sent.
func jsonToAST(data []byte) (ast.Value, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	p := jsonParser{buf: data}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.buf) {
		return nil, p.errorf("unexpected data after the JSON value")
	}
	return v, nil
}

type jsonParser struct {
	buf []byte
	pos int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.pos < len(p.buf) {
		switch p.buf[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (ast.Value, error) {
	if depth > maxArgumentDepth {
		return nil, p.errorf("nested deeper than %d", maxArgumentDepth)
	}
	p.space()
	if p.pos >= len(p.buf) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.buf[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return p.literal()
	}
}

func (p *jsonParser) literal() (ast.Value, error) {
	for _, lit := range [...]struct {
		text string
		val  ast.Value
	}{{"true", ast.Boolean(true)}, {"false", ast.Boolean(false)}, {"null", ast.Null{}}} {
		if len(p.buf)-p.pos >= len(lit.text) && string(p.buf[p.pos:p.pos+len(lit.text)]) == lit.text {
			p.pos += len(lit.text)
			return lit.val, nil
		}
	}
	return nil, p.errorf("unexpected character %q", p.buf[p.pos])
}

func (p *jsonParser) object(depth int) (ast.Value, error) {
	p.pos++ // '{'
	var items [][2]*ast.Term
	var keys keySet
	p.space()
	if p.pos < len(p.buf) && p.buf[p.pos] == '}' {
		p.pos++
		return ast.NewObject(), nil
	}
	for {
		p.space()
		if p.pos >= len(p.buf) || p.buf[p.pos] != '"' {
			return nil, p.errorf("object key expected")
		}
		keyAt := p.pos
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if keys.addDuplicate(items, key) {
			p.pos = keyAt
			return nil, p.errorf("duplicate object key %q", key)
		}
		p.space()
		if p.pos >= len(p.buf) || p.buf[p.pos] != ':' {
			return nil, p.errorf("':' expected")
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, [2]*ast.Term{ast.StringTerm(key), ast.NewTerm(v)})
		p.space()
		if p.pos >= len(p.buf) {
			return nil, p.errorf("unexpected end of input in an object")
		}
		if p.buf[p.pos] == '}' {
			p.pos++
			break
		}
		if p.buf[p.pos] != ',' {
			return nil, p.errorf("',' or '}' expected")
		}
		p.pos++
	}
	return ast.NewObject(items...), nil
}

// keySet detects duplicate keys: a linear scan over the keys so far while
// the object is small (tool arguments have a handful, and a scan is cheaper
// than a map), a map once it grows, so a hostile body of many keys stays
// linear.
type keySet struct{ seen map[string]struct{} }

const keyScanLimit = 16

func (k *keySet) addDuplicate(items [][2]*ast.Term, key string) bool {
	if k.seen == nil && len(items) < keyScanLimit {
		for _, it := range items {
			if string(it[0].Value.(ast.String)) == key {
				return true
			}
		}
		return false
	}
	if k.seen == nil {
		k.seen = make(map[string]struct{}, 2*len(items))
		for _, it := range items {
			k.seen[string(it[0].Value.(ast.String))] = struct{}{}
		}
	}
	if _, dup := k.seen[key]; dup {
		return true
	}
	k.seen[key] = struct{}{}
	return false
}

func (p *jsonParser) array(depth int) (ast.Value, error) {
	p.pos++ // '['
	var elems []*ast.Term
	p.space()
	if p.pos < len(p.buf) && p.buf[p.pos] == ']' {
		p.pos++
		return ast.NewArray(), nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		elems = append(elems, ast.NewTerm(v))
		p.space()
		if p.pos >= len(p.buf) {
			return nil, p.errorf("unexpected end of input in an array")
		}
		if p.buf[p.pos] == ']' {
			p.pos++
			return ast.NewArray(elems...), nil
		}
		if p.buf[p.pos] != ',' {
			return nil, p.errorf("',' or ']' expected")
		}
		p.pos++
	}
}

// str reads a string literal. The common case (no escapes) is a slice
// conversion; strings with escapes go through encoding/json, whose rules
// (\u surrogate pairs, no raw control characters) are the reference.
func (p *jsonParser) str() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	escaped := false
	for p.pos < len(p.buf) {
		c := p.buf[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !escaped {
				return string(p.buf[start+1 : p.pos-1]), nil
			}
			var s string
			if err := json.Unmarshal(p.buf[start:p.pos], &s); err != nil {
				return "", fmt.Errorf("invalid JSON string at offset %d: %w", start, err)
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.pos += 2
		case c < 0x20:
			return "", p.errorf("control character in a string")
		default:
			p.pos++
		}
	}
	p.pos = len(p.buf)
	return "", p.errorf("unterminated string")
}

// number checks the JSON number grammar and keeps the text as written.
func (p *jsonParser) number() (ast.Value, error) {
	start := p.pos
	if p.buf[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.buf) && p.buf[p.pos] == '0':
		p.pos++
	case p.pos < len(p.buf) && p.buf[p.pos] >= '1' && p.buf[p.pos] <= '9':
		p.digits()
	default:
		return nil, p.errorf("invalid number")
	}
	if p.pos < len(p.buf) && p.buf[p.pos] == '.' {
		p.pos++
		if !p.digits() {
			return nil, p.errorf("digit expected after '.'")
		}
	}
	if p.pos < len(p.buf) && (p.buf[p.pos] == 'e' || p.buf[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.buf) && (p.buf[p.pos] == '+' || p.buf[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return nil, p.errorf("digit expected in exponent")
		}
	}
	return ast.Number(p.buf[start:p.pos]), nil
}

func (p *jsonParser) digits() bool {
	start := p.pos
	for p.pos < len(p.buf) && p.buf[p.pos] >= '0' && p.buf[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}
