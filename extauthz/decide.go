// Package extauthz is ActionGate's Envoy ext_authz service: the decision
// point that sees every MCP request, with its body, before it reaches an
// upstream. server.go adapts Envoy's CheckRequest to an Input, Decide
// decides, response.go maps the Decision to a CheckResponse.
package extauthz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/ratelimit"
	"github.com/actiongate/actiongate/internal/registry"
)

// Input is everything a decision depends on besides its Deps. Replay
// reconstructs it from an audit event and must reach the same Decision.
type Input struct {
	DecisionID string
	Registry   *registry.Registry
	// ServerID comes from the route's context extensions: the route was
	// generated from the registry, so the path alone never names a server.
	ServerID string
	// Request is the HTTP request as Envoy saw it (method, headers, body).
	Request mcp.HTTPRequest
	// Bearer is the raw token from the Authorization header ("" if none).
	Bearer string
	// Schemas are the compiled input schemas of Registry's version.
	Schemas *Schemas
	// TaskHeader is the task id a client sent, recorded, never trusted.
	TaskHeader   string
	Now          time.Time
	MaxBodyBytes int
}

// Authenticator verifies a bearer token and derives the principal.
type Authenticator interface {
	Verify(ctx context.Context, rawToken string) (principal.Principal, error)
}

// Authorizer answers, with one SpiceDB check, whether the principal
// (user ∩ agent ∩ tenant) may invoke server/tool.
type Authorizer interface {
	CheckInvoke(ctx context.Context, p principal.Principal, server, tool string) (bool, error)
}

// Limiter takes a token from every bucket of a call, or none.
type Limiter interface {
	Allow(ctx context.Context, p principal.Principal, server, tool string) (ratelimit.Result, error)
}

// DriftView answers, from a local copy, which definition an upstream last
// advertised for a tool (see internal/drift).
type DriftView interface {
	Advertised(server, tool string) (hash string, seen bool, err error)
}

// Revocations answers, from a local copy kept in step with the shared
// revocation topic, whether a user, agent or session is revoked.
type Revocations interface {
	UserRevoked(user string) bool
	AgentRevoked(agent string) bool
	SessionRevoked(session string) bool
}

// Deps are the decision's collaborators. Each is consulted at most once.
type Deps struct {
	// Revoked nil: no emergency revocations (registry and SpiceDB only).
	Revoked Revocations
	Auth    Authenticator
	Authz   Authorizer
	Policy  Policy
	Limits  Limiter   // nil: no rate limits
	Drift   DriftView // nil: definitions are checked only in tools/list
}

// Result is the decision and what the response mapping needs to shape it
// for the client.
type Result struct {
	Decision       decision.Decision
	RequestID      json.RawMessage // nil when the body had no readable id
	TokenPresented bool            // a 401 then says error="invalid_token"
	// Message is the parsed MCP request (nil when the body was not read):
	// the audit event takes the call's arguments and provenance from it.
	Message *mcp.Message
	// ReadOnly: the call changes nothing (a registered tool annotated
	// readOnlyHint, or a method other than tools/call). Its audit event may
	// be made durable after the answer; a mutating call's must be before.
	ReadOnly bool
	// PolicyInput is what the policy evaluated (nil when the decision
	// ended before the policy step): replay's input record.
	PolicyInput *policy.Input
}

// Decide checks, in order: the route's server, the principal (token), the
// MCP message (strict parse), the registry (agent, tenant, user approval,
// tool, agent scope), SpiceDB (user ∩ agent ∩ tenant), and OPA policy.
// Every error denies. It does no I/O of its own: only Deps do.
func Decide(ctx context.Context, in Input, deps Deps) Result {
	d := decision.Decision{ID: in.DecisionID, Server: in.ServerID}
	if in.Registry == nil || deps.Auth == nil {
		return deny(d, decision.ReasonInternal, "the gateway is not ready", nil)
	}
	d.RegistryVersion = in.Registry.Version.String()
	srv, ok := in.Registry.Server(in.ServerID)
	if !ok {
		return deny(d, decision.ReasonUnknownServer, fmt.Sprintf("server %q is not registered", in.ServerID), nil)
	}
	res := Result{TokenPresented: in.Bearer != ""}
	p, err := deps.Auth.Verify(ctx, in.Bearer)
	if err != nil {
		if errors.Is(err, identity.ErrUnavailable) {
			// Keys unreachable is our outage, not the client's fault: 503.
			return deny(d, decision.ReasonInternal, identity.PublicMessage(err), nil)
		}
		r := deny(d, decision.ReasonUnauthenticated, identity.PublicMessage(err), nil)
		r.TokenPresented = res.TokenPresented
		return r
	}
	if p.Task == "" {
		p.Task = in.TaskHeader
	}
	d.Principal = p
	msg, r, done := readMessage(d, in)
	if done {
		return r
	}
	r = authorize(ctx, d, in, srv, msg, deps)
	r.Message = msg
	r.ReadOnly = msg == nil || !msg.IsToolCall()
	if !r.ReadOnly {
		if t, ok := srv.Tool(msg.ToolName); ok && t.Annotations.ReadOnlyHint != nil && *t.Annotations.ReadOnlyHint {
			r.ReadOnly = true
		}
	}
	return r
}

// readMessage parses the body strictly; bodiless GET/DELETE (Streamable
// HTTP's server stream and session end) carry no call.
func readMessage(d decision.Decision, in Input) (*mcp.Message, Result, bool) {
	switch in.Request.Method {
	case "POST":
	case "GET", "DELETE":
		d.Method = in.Request.Method
		return nil, Result{}, false
	default:
		return nil, deny(d, decision.ReasonMethodNotAllowed,
			fmt.Sprintf("HTTP %s is not part of MCP's Streamable HTTP transport", in.Request.Method), nil), true
	}
	msg, err := mcp.ParseRequest(in.Request, in.MaxBodyBytes)
	if err != nil {
		return nil, parseDenial(d, err), true
	}
	d.Method = msg.Method
	return msg, Result{}, false
}

func parseDenial(d decision.Decision, err error) Result {
	pe, ok := mcp.IsParseError(err)
	if !ok {
		return deny(d, decision.ReasonMalformed, "the body is not a valid JSON-RPC message", nil)
	}
	switch pe.Problem {
	case mcp.ProblemHeaderMismatch:
		return deny(d, decision.ReasonHeaderMismatch, pe.Error(), pe.ID)
	case mcp.ProblemUnsupportedVersion:
		return deny(d, decision.ReasonUnsupportedVersion, pe.Error(), pe.ID)
	}
	return deny(d, decision.ReasonMalformed, pe.Error(), nil)
}

// authorize runs the registry, SpiceDB and policy checks for an
// authenticated, well-formed request.
func authorize(ctx context.Context, d decision.Decision, in Input, srv *registry.Server, msg *mcp.Message, deps Deps) Result {
	var id json.RawMessage
	if msg != nil {
		d.Method, id = msg.Method, msg.ID
	}
	p := d.Principal
	// After parsing, so the refusal echoes the request id (a client must
	// be able to tell which call was refused).
	if r, ok := revoked(deps.Revoked, p, in.Request.Headers["mcp-session-id"]); ok {
		return deny(d, decision.ReasonRevoked, r, id)
	}
	agent, reason, detail := checkRegistry(in.Registry, p)
	if reason != "" {
		return deny(d, reason, detail, id)
	}
	if msg == nil || !msg.IsToolCall() {
		// Listing, session and notification traffic stays within what
		// the principal may see; tools/list is filtered on the response.
		return allow(d, id)
	}
	d.Tool = msg.ToolName
	tool, ok := srv.Tool(msg.ToolName)
	if !ok {
		return deny(d, decision.ReasonUnknownTool, fmt.Sprintf("tool %q is not registered for server %q", msg.ToolName, srv.ID), id)
	}
	if !agent.MayUse(srv.ID, tool.Name) {
		return deny(d, decision.ReasonOutOfScope, fmt.Sprintf("agent %q does not declare %s/%s", agent.ID, srv.ID, tool.Name), id)
	}
	if deps.Drift != nil {
		pin := tool.DefinitionHash()
		adv, seen, err := deps.Drift.Advertised(srv.ID, tool.Name)
		if err != nil {
			return deny(d, decision.ReasonInternal, "tool definition observations are unavailable", id)
		}
		// A tool nobody listed yet is judged by its pin alone.
		if seen && adv != pin {
			d.Drift = &decision.ToolDrift{Pinned: pin, Advertised: adv}
			return deny(d, decision.ReasonToolDefinitionChanged, fmt.Sprintf(
				"server %q now advertises a definition of %q (%s) that differs from the pinned one (%s); an owner must review it and update the registry pin",
				srv.ID, tool.Name, adv, pin), id)
		}
	}
	if in.Schemas == nil {
		return deny(d, decision.ReasonInternal, "no compiled input schemas", id)
	}
	if detail, ok := in.Schemas.validate(srv.ID, tool.Name, msg.Arguments); !ok {
		return deny(d, decision.ReasonInvalidArguments, detail, id)
	}
	if deps.Authz == nil {
		return deny(d, decision.ReasonInternal, "no authorization service", id)
	}
	permitted, err := deps.Authz.CheckInvoke(ctx, p, srv.ID, tool.Name)
	if err != nil {
		return deny(d, decision.ReasonInternal, "the authorization service did not answer", id)
	}
	if !permitted {
		return deny(d, decision.ReasonNotPermitted, fmt.Sprintf("user %q through agent %q in tenant %q may not invoke %s/%s",
			p.User, p.Agent, p.Tenant, srv.ID, tool.Name), id)
	}
	r := evaluatePolicy(ctx, d, in, policyFacts{agent: agent, server: srv, tool: tool, msg: msg}, deps.Policy, id)
	if !r.Decision.Allowed() || deps.Limits == nil {
		return r
	}
	// Last: only a call that would run takes a token.
	lim, err := deps.Limits.Allow(ctx, p, srv.ID, tool.Name)
	var out Result
	switch {
	case err != nil:
		out = deny(r.Decision, decision.ReasonInternal, "the rate-limit store did not answer", id)
	case !lim.Allowed:
		secs := int((lim.RetryAfter + time.Second - 1) / time.Second)
		out = deny(r.Decision, decision.ReasonRateLimited, fmt.Sprintf("%s limit reached; retry after %ds", lim.Scope, secs), id)
	default:
		return r
	}
	out.PolicyInput = r.PolicyInput
	return out
}

// checkRegistry: the agent is registered, the tenant exists and is one the
// agent may act in, and the user is in the agent's approved population.
func checkRegistry(reg *registry.Registry, p principal.Principal) (*registry.Agent, decision.Reason, string) {
	agent, ok := reg.Agent(p.Agent)
	if !ok {
		return nil, decision.ReasonUnknownAgent, fmt.Sprintf("agent %q is not registered", p.Agent)
	}
	if _, ok := reg.Tenant(p.Tenant); !ok || !slices.Contains(agent.Tenants, p.Tenant) {
		return nil, decision.ReasonTenantMismatch, fmt.Sprintf("agent %q may not act in tenant %q", agent.ID, p.Tenant)
	}
	if !slices.Contains(agent.Users, p.User) && !intersects(agent.Groups, p.Groups) {
		return nil, decision.ReasonUserNotApproved, fmt.Sprintf("agent %q is not approved for user %q", agent.ID, p.User)
	}
	return agent, "", ""
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func allow(d decision.Decision, id json.RawMessage) Result {
	d.Outcome, d.Reason = decision.Allow, decision.ReasonAllowed
	return Result{Decision: d, RequestID: id}
}

func deny(d decision.Decision, r decision.Reason, detail string, id json.RawMessage) Result {
	d.Outcome, d.Reason, d.Detail = decision.Deny, r, detail
	return Result{Decision: d, RequestID: id}
}

// revoked checks the principal, every actor of its chain, and the session.
func revoked(rv Revocations, p principal.Principal, session string) (string, bool) {
	if rv == nil {
		return "", false
	}
	if rv.UserRevoked(p.User) {
		return fmt.Sprintf("access of user %q has been revoked", p.User), true
	}
	if rv.AgentRevoked(p.Agent) {
		return fmt.Sprintf("agent %q has been revoked", p.Agent), true
	}
	for _, a := range p.Chain {
		if rv.AgentRevoked(a.Subject) {
			return fmt.Sprintf("agent %q in the delegation chain has been revoked", a.Subject), true
		}
	}
	if session != "" && rv.SessionRevoked(session) {
		return "this session has been revoked", true
	}
	return "", false
}
