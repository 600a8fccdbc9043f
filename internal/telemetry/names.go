package telemetry

// methodToolsCall is the one method whose spans are GenAI execute_tool
// operations.
const methodToolsCall = "tools/call"

// fallbackName names a span whose method is unknown or not (yet) parsed,
// as the HTTP conventions name a span "HTTP" for a method they do not know.
const fallbackName = "mcp"

// maxTargetLen keeps an oversized tool name out of the span name.
const maxTargetLen = 128

// spanName is "{mcp.method.name} {target}" (the MCP conventions), the
// target being the tool of a tools/call. Method names come from the
// request body, so only well-known ones name a span: an agent must not be
// able to mint span names. Only a tools/call with a target allocates.
func spanName(method, tool string, withTarget bool) string {
	m := knownMethod(method)
	if m == "" {
		return fallbackName
	}
	if m == methodToolsCall && withTarget && tool != "" && len(tool) <= maxTargetLen {
		return m + " " + tool
	}
	return m
}

// nameIs reports whether name == spanName(method, tool, withTarget),
// without building the latter.
func nameIs(name, method, tool string, withTarget bool) bool {
	m := knownMethod(method)
	if m == "" {
		return name == fallbackName
	}
	if m == methodToolsCall && withTarget && tool != "" && len(tool) <= maxTargetLen {
		return len(name) == len(m)+1+len(tool) && name[:len(m)] == m && name[len(m)] == ' ' && name[len(m)+1:] == tool
	}
	return name == m
}

// knownMethod returns method if it is an MCP method of a revision the
// gateway speaks (or GET/DELETE, the bodiless Streamable HTTP requests
// ext_authz records as the method), else "".
func knownMethod(method string) string {
	switch method {
	case "initialize", "ping", "server/discover",
		"tools/list", "tools/call",
		"prompts/list", "prompts/get",
		"resources/list", "resources/templates/list", "resources/read",
		"resources/subscribe", "resources/unsubscribe",
		"completion/complete", "logging/setLevel",
		"sampling/createMessage", "elicitation/create", "roots/list",
		"tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
		"notifications/initialized", "notifications/cancelled", "notifications/progress",
		"notifications/message", "notifications/resources/updated",
		"notifications/resources/list_changed", "notifications/tools/list_changed",
		"notifications/prompts/list_changed", "notifications/roots/list_changed",
		"notifications/tasks/status", "notifications/elicitation/complete",
		"GET", "DELETE":
		return method
	}
	return ""
}
