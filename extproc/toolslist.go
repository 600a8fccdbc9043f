package extproc

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/registry"
)

// Why a tool was removed from a tools/list result.
const (
	hiddenUnregistered = "unregistered"       // the registry does not list it (shadow tool)
	hiddenOutOfScope   = "out_of_scope"       // the acting agent may not use it
	hiddenChanged      = "definition_changed" // the upstream's definition differs from the pinned one
)

// hiddenTool is one tool removed from a tools/list result.
type hiddenTool struct {
	Why string
	// Pinned and Advertised are the definition hashes of a changed tool.
	Pinned, Advertised string
}

// filterTools keeps the tools this agent may use on this server whose
// advertised definition hashes to the registry's pin (a changed
// description, title, schema or hint is a rug pull until an owner updates
// the pin). It returns the kept raw tool objects, per removed tool why, and
// the advertised hash of every registered tool seen (for drift tracking,
// whatever this agent's scope).
func filterTools(reg *registry.Registry, server, agent string, tools []json.RawMessage) ([]json.RawMessage, map[string]hiddenTool, map[string]string) {
	srv, okSrv := reg.Server(server)
	ag, okAgent := reg.Agent(agent)
	kept := make([]json.RawMessage, 0, len(tools))
	hidden := map[string]hiddenTool{}
	seen := map[string]string{}
	for i, raw := range tools {
		def, err := registry.ParseDefinition(raw)
		if err != nil {
			hidden[fmt.Sprintf("#%d", i)] = hiddenTool{Why: hiddenUnregistered}
			continue
		}
		var pinned *registry.Tool
		if okSrv {
			pinned, _ = srv.Tool(def.Name)
		}
		if pinned == nil {
			hidden[def.Name] = hiddenTool{Why: hiddenUnregistered}
			continue
		}
		adv, err := def.Hash()
		if err != nil {
			adv = "unhashable"
		}
		seen[def.Name] = adv
		pin := pinned.DefinitionHash()
		switch {
		case !okAgent || !ag.MayUse(server, def.Name):
			hidden[def.Name] = hiddenTool{Why: hiddenOutOfScope}
		case adv != pin:
			hidden[def.Name] = hiddenTool{Why: hiddenChanged, Pinned: pin, Advertised: adv}
		default:
			kept = append(kept, raw)
		}
	}
	return kept, hidden, seen
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
	kept, hidden, seen := filterTools(reg, x.Server, x.Agent, tools)
	if e.observe != nil {
		// Every replica's ext_authz refuses calls to a drifted tool from
		// the shared observations; failing to share one fails this
		// response closed rather than leave the drift unenforced.
		if err := e.observe(x.Server, seen); err != nil {
			return nil, fmt.Errorf("recording advertised tool definitions: %w", err)
		}
	}
	if len(hidden) == 0 {
		return body, nil
	}
	for name, h := range hidden {
		e.problem("tool_hidden_" + h.Why)
		attrs := []any{"decision_id", x.DecisionID, "server", x.Server, "agent", x.Agent, "tool", name, "why", h.Why}
		if h.Why == hiddenChanged {
			attrs = append(attrs, "pinned", h.Pinned, "advertised", h.Advertised)
			e.log.Warn("tools/list: tool definition differs from its registry pin; hidden until the pin is updated", attrs...)
		} else {
			e.log.Info("tools/list: tool hidden", attrs...)
		}
		if x.notes != nil {
			x.notes.Hidden = append(x.notes.Hidden, hiddenNote{Tool: name, hiddenTool: h})
		}
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
