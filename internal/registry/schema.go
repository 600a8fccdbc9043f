package registry

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"
)

// schemaJSON converts a tool's inputSchema from YAML to compact JSON. Keys
// keep the order the author wrote them in, so a schema copied from a
// server's tools/list pins to the same bytes the server advertises. The
// schema must be an object schema, as MCP requires of tool inputs.
func schemaJSON(ps *problems, file, path string, n *yaml.Node) json.RawMessage {
	if n.Kind != yaml.MappingNode {
		ps.add(file, n.Line, path, "must be a JSON Schema object (a mapping), not %s", describe(n))
		return nil
	}
	if !isObjectSchema(n) {
		ps.add(file, n.Line, join(path, "type"), `must be "object": MCP tool arguments are a JSON object`)
		return nil
	}
	var buf bytes.Buffer
	if !writeJSON(ps, file, path, n, &buf) {
		return nil
	}
	return json.RawMessage(buf.Bytes())
}

func isObjectSchema(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "type" {
			return v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && v.Value == "object"
		}
	}
	return false
}

// writeJSON maps a YAML node onto the JSON data model. Keys are already
// known to be unique strings (checkNodes); what YAML can say and JSON cannot
// (NaN, infinities, integers beyond 64 bits) is reported, not approximated.
func writeJSON(ps *problems, file, path string, n *yaml.Node, buf *bytes.Buffer) bool {
	ok := true
	switch n.Kind {
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k := n.Content[i].Value
			writeJSONString(buf, k)
			buf.WriteByte(':')
			ok = writeJSON(ps, file, join(path, k), n.Content[i+1], buf) && ok
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			ok = writeJSON(ps, file, elem(path, i), c, buf) && ok
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		s, sok := jsonScalar(n)
		if !sok {
			ps.add(file, n.Line, path, "%s cannot be represented in JSON (finite numbers and 64-bit integers only)", n.Value)
			return false
		}
		buf.WriteString(s)
	default:
		ps.add(file, n.Line, path, "unsupported YAML node")
		return false
	}
	return ok
}

// jsonScalar renders a scalar as a JSON literal: numbers in a canonical
// decimal form whatever the YAML spelling (0x1F, 1_000, 1.0e3), dates as
// the text written.
func jsonScalar(n *yaml.Node) (string, bool) {
	switch n.ShortTag() {
	case "!!null":
		return "null", true
	case "!!bool":
		var b bool
		if n.Decode(&b) != nil {
			return "", false
		}
		return strconv.FormatBool(b), true
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return strconv.FormatInt(i, 10), true
		}
		var u uint64
		if n.Decode(&u) == nil {
			return strconv.FormatUint(u, 10), true
		}
		return "", false
	case "!!float":
		var f float64
		if n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", false
		}
		return strconv.FormatFloat(f, 'g', -1, 64), true
	default:
		var buf bytes.Buffer
		writeJSONString(&buf, n.Value)
		return buf.String(), true
	}
}

// writeJSONString quotes s as a JSON string, leaving <, > and & readable.
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode's trailing newline
}
