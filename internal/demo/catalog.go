package demo

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolDef is one tool of a demo server: its advertised definition and how to
// bind its handler. Schemas are kept as literal JSON so tools/list returns
// exactly these bytes, the form the registry pins.
type toolDef struct {
	name        string
	title       string
	description string
	schema      string
	readOnly    bool
	destructive bool
	idempotent  bool
	openWorld   bool
	register    func(*mcp.Server, *mcp.Tool)
}

func (d toolDef) tool() *mcp.Tool {
	return &mcp.Tool{
		Name:        d.name,
		Description: d.description,
		InputSchema: json.RawMessage(d.schema),
		Annotations: &mcp.ToolAnnotations{
			Title:           d.title,
			ReadOnlyHint:    d.readOnly,
			DestructiveHint: &d.destructive,
			IdempotentHint:  d.idempotent,
			OpenWorldHint:   &d.openWorld,
		},
	}
}

func catalog(id string) ([]toolDef, error) {
	switch id {
	case "ehr":
		return ehrTools(), nil
	case "trading":
		return tradingTools(), nil
	case "mail":
		return mailTools(), nil
	default:
		return nil, fmt.Errorf("demo: unknown server id %q (known: %s)", id, strings.Join(IDs(), ", "))
	}
}

// text is a successful tool result with one text block.
func text(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// toolError is a tool execution error the model sees (isError), as opposed
// to a protocol error.
func toolError(format string, args ...any) *mcp.CallToolResult {
	r := text(format, args...)
	r.IsError = true
	return r
}

// sortedKeys keeps list outputs deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
