package drill

import (
	"encoding/json"
	"strings"
)

// sampleArguments builds the smallest arguments an object schema accepts
// for its required properties: enough for the drill's read-only calls.
func sampleArguments(schema json.RawMessage) (json.RawMessage, error) {
	var s struct {
		Properties map[string]struct {
			Type      string   `json:"type"`
			Enum      []any    `json:"enum"`
			MinLength int      `json:"minLength"`
			Minimum   *float64 `json:"minimum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		return nil, err
	}
	args := map[string]any{}
	for _, name := range s.Required {
		p := s.Properties[name]
		switch {
		case len(p.Enum) > 0:
			args[name] = p.Enum[0]
		case p.Type == "integer" || p.Type == "number":
			v := 1.0
			if p.Minimum != nil {
				v = *p.Minimum
			}
			args[name] = v
		case p.Type == "boolean":
			args[name] = false
		default:
			args[name] = "A" + strings.Repeat("A", max(p.MinLength-1, 0))
		}
	}
	return json.Marshal(args)
}
