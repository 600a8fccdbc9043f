package extproc

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/registry"
)

// Why a tool was removed from a tools/list result.
const (
	hiddenUnregistered = "unregistered"       // the registry does not list it (shadow tool)
	hiddenOutOfScope   = "out_of_scope"       // the acting agent may not use it
	hiddenChanged      = "definition_changed" // the upstream's definition differs from the pinned one
)

// advertisedTool is the part of an MCP Tool the registry pins.
type advertisedTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
	Annotations *struct {
		ReadOnlyHint    *bool `json:"readOnlyHint"`
		DestructiveHint *bool `json:"destructiveHint"`
		IdempotentHint  *bool `json:"idempotentHint"`
		OpenWorldHint   *bool `json:"openWorldHint"`
	} `json:"annotations"`
}

// filterTools keeps the tools this agent may use on this server whose
// advertised definition equals the registry's (the registry is the pin:
// a changed description or schema is a rug pull until an owner updates
// the registry). It returns the kept raw tool objects and, per removed
// tool, why.
func filterTools(reg *registry.Registry, server, agent string, tools []json.RawMessage) ([]json.RawMessage, map[string]string) {
	srv, okSrv := reg.Server(server)
	ag, okAgent := reg.Agent(agent)
	kept := make([]json.RawMessage, 0, len(tools))
	hidden := map[string]string{}
	for _, raw := range tools {
		var t advertisedTool
		if json.Unmarshal(raw, &t) != nil || t.Name == "" {
			hidden[fmt.Sprintf("#%d", len(kept)+len(hidden))] = hiddenUnregistered
			continue
		}
		var pinned *registry.Tool
		if okSrv {
			pinned, _ = srv.Tool(t.Name)
		}
		switch {
		case pinned == nil:
			hidden[t.Name] = hiddenUnregistered
		case !okAgent || !ag.MayUse(server, t.Name):
			hidden[t.Name] = hiddenOutOfScope
		case !sameDefinition(t, pinned):
			hidden[t.Name] = hiddenChanged
		default:
			kept = append(kept, raw)
		}
	}
	return kept, hidden
}

// sameDefinition compares description, input schema (RFC 8785 canonical
// form, so key order and whitespace do not matter) and the four hints.
func sameDefinition(t advertisedTool, p *registry.Tool) bool {
	if t.Description != p.Description || !sameJSON(t.InputSchema, p.InputSchema) {
		return false
	}
	var ro, de, id, ow *bool
	if t.Annotations != nil {
		ro, de, id, ow = t.Annotations.ReadOnlyHint, t.Annotations.DestructiveHint, t.Annotations.IdempotentHint, t.Annotations.OpenWorldHint
	}
	a := p.Annotations
	return sameHint(ro, a.ReadOnlyHint) && sameHint(de, a.DestructiveHint) && sameHint(id, a.IdempotentHint) && sameHint(ow, a.OpenWorldHint)
}

func sameHint(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameJSON(a, b json.RawMessage) bool {
	ca, errA := jcs.Transform(a)
	cb, errB := jcs.Transform(b)
	return errA == nil && errB == nil && bytes.Equal(ca, cb)
}

// toolsListFilter returns the JSON transform that filters tools/list
// results; other responses pass unchanged.
func toolsListFilter(e *env) jsonTransform {
	return func(x *exchange, _ *mcp.Message, body []byte) ([]byte, error) {
		if x.Method != "tools/list" || e.registry == nil {
			return body, nil
		}
		return filterListBody(e, x, body)
	}
}

// toolsListEventFilter does the same for the SSE event carrying the
// tools/list response.
func toolsListEventFilter(e *env) eventTransform {
	return func(x *exchange, ev *mcp.SSEEvent) ([]byte, error) {
		f := ev.Fields()
		if x.Method != "tools/list" || e.registry == nil || !f.HasData || !bytes.Contains(f.Data, []byte(`"tools"`)) {
			return ev.Raw, nil
		}
		out, err := filterListBody(e, x, f.Data)
		if err != nil || bytes.Equal(out, f.Data) {
			return ev.Raw, err
		}
		return mcp.EncodeSSEEvent(f.Name, out), nil
	}
}

// filterListBody rewrites one JSON-RPC response: result.tools filtered,
// every other member (nextCursor, _meta, ttlMs …) kept.
func filterListBody(e *env, x *exchange, body []byte) ([]byte, error) {
	var envl map[string]json.RawMessage
	if json.Unmarshal(body, &envl) != nil || envl["result"] == nil {
		return body, nil // an error response or not ours to rewrite
	}
	var result map[string]json.RawMessage
	if err := json.Unmarshal(envl["result"], &result); err != nil {
		return body, nil
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(result["tools"], &tools); err != nil {
		return body, nil
	}
	reg := e.registry()
	if reg == nil {
		return nil, fmt.Errorf("no registry to filter tools/list")
	}
	kept, hidden := filterTools(reg, x.Server, x.Agent, tools)
	if len(hidden) == 0 {
		return body, nil
	}
	for name, why := range hidden {
		e.problem("tool_hidden_" + why)
		e.log.Info("tools/list: tool hidden", "decision_id", x.DecisionID, "server", x.Server, "agent", x.Agent,
			"tool", name, "why", why)
	}
	var err error
	if result["tools"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	if envl["result"], err = json.Marshal(result); err != nil {
		return nil, err
	}
	return json.Marshal(envl)
}
