package mint

import (
	"errors"
	"strings"
)

// ScopePrefix starts every tool scope. A tool scope names exactly one
// tool of exactly one server:
//
//	mcp:tools:call:<server>/<tool>
//
// <server> is the registry id of the MCP server ([a-z0-9][a-z0-9-]{0,62})
// and <tool> the MCP tool name ([A-Za-z0-9_.-]{1,128}), the same rules the
// registry enforces. Neither may contain '/', ':' or a space, so the scope
// is a single RFC 6749 §3.3 scope-token and splits unambiguously. There is
// no wildcard: a minted token is good for one tool.
const ScopePrefix = "mcp:tools:call:"

// ServerScopePrefix starts the scope of a token for the protocol messages
// that call no tool (initialize, ping, tools/list, notifications):
//
//	mcp:server:<server>
//
// It grants no tools/call at all.
const ServerScopePrefix = "mcp:server:"

// Scope is the scope for calling tool on server. It does not validate;
// ParseScope and Mint do.
func Scope(server, tool string) string {
	return ScopePrefix + server + "/" + tool
}

// ServerScope is the scope for talking to server without calling a tool.
func ServerScope(server string) string { return ServerScopePrefix + server }

// ParseScope splits a tool scope into server and tool, or a server scope
// into server and "", rejecting anything that is not exactly one
// well-formed scope.
func ParseScope(s string) (server, tool string, err error) {
	if server, ok := strings.CutPrefix(s, ServerScopePrefix); ok {
		if !validServer(server) {
			return "", "", errors.New("scope names an invalid server id")
		}
		return server, "", nil
	}
	rest, ok := strings.CutPrefix(s, ScopePrefix)
	if !ok {
		return "", "", errors.New("scope must be " + ScopePrefix + "<server>/<tool> or " + ServerScopePrefix + "<server>")
	}
	server, tool, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", errors.New("scope must be " + ScopePrefix + "<server>/<tool>")
	}
	if !validServer(server) {
		return "", "", errors.New("scope names an invalid server id")
	}
	if !validTool(tool) {
		return "", "", errors.New("scope names an invalid tool name")
	}
	return server, tool, nil
}

// hasScope reports whether the space-separated scope claim contains want
// as a whole scope-token.
func hasScope(claim, want string) bool {
	for claim != "" {
		var tok string
		tok, claim, _ = strings.Cut(claim, " ")
		if tok == want {
			return true
		}
	}
	return false
}

// validServer mirrors the registry's id rule: [a-z0-9][a-z0-9-]{0,62}.
func validServer(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validTool mirrors the registry's (and MCP's) tool name rule:
// [A-Za-z0-9_.-]{1,128}.
func validTool(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
