package registry

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// object is one YAML mapping being decoded into a Go struct. It reports
// unknown keys when it is made and missing, mistyped or invalid values as
// each field is read, always with the file, line and field path.
type object struct {
	ps   *problems
	file string
	path string
	node *yaml.Node
	vals map[string]*yaml.Node
}

// join appends a mapping key to a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// elem appends a list index to a field path.
func elem(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// newObject accepts n only if it is a mapping; every key not in known is
// reported. Duplicate and non-string keys were already refused by checkNodes.
func newObject(ps *problems, file, path string, n *yaml.Node, known ...string) (*object, bool) {
	if n.Kind != yaml.MappingNode {
		ps.add(file, n.Line, path, "must be a mapping, not %s", describe(n))
		return nil, false
	}
	o := &object{ps: ps, file: file, path: path, node: n, vals: make(map[string]*yaml.Node, len(known))}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) {
			ps.add(file, k.Line, join(path, k.Value), "unknown field; expected one of %s", strings.Join(known, ", "))
			continue
		}
		o.vals[k.Value] = v
	}
	return o, true
}

func (o *object) errorf(n *yaml.Node, key, format string, args ...any) {
	o.ps.add(o.file, n.Line, join(o.path, key), format, args...)
}

// get returns the value of key, treating an explicit null like an absent
// key, and reports it as missing when required.
func (o *object) get(key string, required bool) *yaml.Node {
	n := o.vals[key]
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		n = nil
	}
	if n == nil && required {
		o.ps.add(o.file, o.node.Line, join(o.path, key), "is required")
	}
	return n
}

// scalarString reads a scalar as its source text. Numbers and dates are
// accepted as written (a model version of 2024-05-13 is a string to us);
// booleans are refused because "true" is rarely what the author meant.
func (o *object) scalarString(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" {
		o.ps.add(o.file, n.Line, field, "must be a string, not %s", describe(n))
		return "", false
	}
	if strings.ContainsFunc(n.Value, isControl) {
		o.ps.add(o.file, n.Line, field, "must not contain control characters")
		return "", false
	}
	return n.Value, true
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// str reads a string field; a required one must also be non-blank.
func (o *object) str(key string, required bool) string {
	n := o.get(key, required)
	if n == nil {
		return ""
	}
	s, ok := o.scalarString(n, join(o.path, key))
	if ok && required && strings.TrimSpace(s) == "" {
		o.errorf(n, key, "must not be empty")
	}
	return s
}

// id reads a required identifier that is safe in URLs, metrics labels,
// SpiceDB object ids and Envoy cluster names alike.
func (o *object) id(key string) string {
	n := o.get(key, true)
	if n == nil {
		return ""
	}
	s, ok := o.scalarString(n, join(o.path, key))
	if ok && !validID(s) {
		o.errorf(n, key, "%q is not a valid id (lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters)", s)
	}
	return s
}

// enum reads a required string that must be one of allowed.
func (o *object) enum(key string, allowed []string) string {
	n := o.get(key, true)
	if n == nil {
		return ""
	}
	s, ok := o.scalarString(n, join(o.path, key))
	if ok && !slices.Contains(allowed, s) {
		o.errorf(n, key, "%q is not one of %s", s, strings.Join(allowed, ", "))
		return ""
	}
	return s
}

// boolPtr reads an optional boolean; absent stays nil so "unset" and
// "false" remain distinguishable, as MCP annotations require.
func (o *object) boolPtr(key string) *bool {
	n := o.get(key, false)
	if n == nil {
		return nil
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		o.errorf(n, key, "must be true or false, not %s", describe(n))
		return nil
	}
	return &b
}

// integer reads a required integer.
func (o *object) integer(key string) (int, bool) {
	n := o.get(key, true)
	if n == nil {
		return 0, false
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		o.errorf(n, key, "must be an integer, not %s", describe(n))
		return 0, false
	}
	return v, true
}

// seq reads a list; a required one must have at least one entry.
func (o *object) seq(key string, required bool) []*yaml.Node {
	n := o.get(key, required)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		o.errorf(n, key, "must be a list, not %s", describe(n))
		return nil
	}
	if required && len(n.Content) == 0 {
		o.errorf(n, key, "must list at least one entry")
	}
	return n.Content
}

// stringList reads a list of non-empty, distinct strings, returning each
// entry's node alongside so callers can place later errors on its line.
func (o *object) stringList(key string, required bool) ([]string, []*yaml.Node) {
	var out []string
	var nodes []*yaml.Node
	first := map[string]int{}
	for i, n := range o.seq(key, required) {
		field := elem(join(o.path, key), i)
		s, ok := o.scalarString(n, field)
		switch {
		case !ok:
			continue
		case strings.TrimSpace(s) == "":
			o.ps.add(o.file, n.Line, field, "must not be empty")
			continue
		case first[s] != 0:
			o.ps.add(o.file, n.Line, field, "duplicate entry %q (first at line %d)", s, first[s])
			continue
		}
		first[s] = n.Line
		out = append(out, s)
		nodes = append(nodes, n)
	}
	return out, nodes
}

// child reads a nested mapping with its own set of known keys.
func (o *object) child(key string, required bool, known ...string) (*object, bool) {
	n := o.get(key, required)
	if n == nil {
		return nil, false
	}
	return newObject(o.ps, o.file, join(o.path, key), n, known...)
}

// describe names a node's type for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!null":
			return "null"
		default:
			return fmt.Sprintf("the string %q", n.Value)
		}
	default:
		return "an unsupported YAML node"
	}
}
