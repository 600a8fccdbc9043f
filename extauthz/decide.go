// Package extauthz is ActionGate's Envoy ext_authz service: the decision
// point that sees every MCP request, with its body, before it reaches an
// upstream. server.go adapts Envoy's CheckRequest to an Input, Decide (pure)
// decides, response.go maps the Decision to a CheckResponse.
package extauthz

import (
	"encoding/json"
	"fmt"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/registry"
)

// Input is everything a decision depends on. Replay reconstructs it from an
// audit event and must reach the same Decision.
type Input struct {
	DecisionID string
	Registry   *registry.Registry
	// ServerID comes from the route's context extensions: the route was
	// generated from the registry, so the path alone never names a server.
	ServerID   string
	HTTPMethod string
	Body       []byte
	// BodyPartial is Envoy's x-envoy-auth-partial-body: the body was cut
	// at the buffer limit and must not be interpreted.
	BodyPartial  bool
	MaxBodyBytes int
}

// Result is the decision and what the response mapping needs to shape it
// for the client (the JSON-RPC id to echo).
type Result struct {
	Decision  decision.Decision
	RequestID json.RawMessage // nil when the body had no readable id
}

// Decide is the pure decision function: no I/O, no clock, no globals.
func Decide(in Input) Result {
	d := decision.Decision{ID: in.DecisionID, Server: in.ServerID}
	if in.Registry == nil {
		return deny(d, decision.ReasonInternal, "no registry loaded", nil)
	}
	d.RegistryVersion = in.Registry.Version.String()
	srv, ok := in.Registry.Server(in.ServerID)
	if !ok {
		return deny(d, decision.ReasonUnknownServer, fmt.Sprintf("server %q is not registered", in.ServerID), nil)
	}
	switch in.HTTPMethod {
	case "POST":
	case "GET", "DELETE":
		// Streamable HTTP's server-to-client stream and session end carry
		// no tool call; responses on them pass ext_proc's filters.
		d.Method = in.HTTPMethod
		return allow(d, nil)
	default:
		return deny(d, decision.ReasonMethodNotAllowed,
			fmt.Sprintf("HTTP %s is not part of MCP's Streamable HTTP transport", in.HTTPMethod), nil)
	}
	if in.BodyPartial {
		return deny(d, decision.ReasonMalformed, "the request body was truncated", nil)
	}
	msg, err := mcp.Parse(in.Body, in.MaxBodyBytes)
	if err != nil {
		detail := "the body is not a valid JSON-RPC message"
		if pe, ok := mcp.IsParseError(err); ok {
			detail = pe.Error()
		}
		return deny(d, decision.ReasonMalformed, detail, nil)
	}
	d.Method = msg.Method
	if !msg.IsToolCall() {
		return allow(d, msg.ID)
	}
	d.Tool = msg.ToolName
	if _, ok := srv.Tool(msg.ToolName); !ok {
		return deny(d, decision.ReasonUnknownTool,
			fmt.Sprintf("tool %q is not registered for server %q", msg.ToolName, srv.ID), msg.ID)
	}
	return allow(d, msg.ID)
}

func allow(d decision.Decision, id json.RawMessage) Result {
	d.Outcome, d.Reason = decision.Allow, decision.ReasonAllowed
	return Result{Decision: d, RequestID: id}
}

func deny(d decision.Decision, r decision.Reason, detail string, id json.RawMessage) Result {
	d.Outcome, d.Reason, d.Detail = decision.Deny, r, detail
	return Result{Decision: d, RequestID: id}
}
