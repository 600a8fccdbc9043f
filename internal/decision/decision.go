// Package decision holds the typed result of an authorization decision, the
// record both ext_authz (which makes it) and ext_proc (which reads it from
// Envoy dynamic metadata) share, and that audit and replay persist.
package decision

import "github.com/actiongate/actiongate/internal/principal"

// Outcome is what the gateway decided.
type Outcome string

// Outcomes.
const (
	Allow            Outcome = "allow"
	Deny             Outcome = "deny"
	ApprovalRequired Outcome = "approval_required"
)

// Reason is a stable, typed reason code. Clients see it in error.data.reason,
// SIEMs filter on it; renaming one is a breaking change.
type Reason string

// Reasons. Each maps to exactly one response shape (see extauthz/response.go).
const (
	// ReasonAllowed: every check passed.
	ReasonAllowed Reason = "allowed"
	// ReasonMethodNotAllowed: an HTTP method MCP's Streamable HTTP transport
	// does not use (e.g. PUT).
	ReasonMethodNotAllowed Reason = "http_method_not_allowed"
	// ReasonMalformed: the body is not one unambiguous JSON-RPC message.
	ReasonMalformed Reason = "malformed_request"
	// ReasonUnknownServer: the route names a server the registry lacks
	// (a stale route, or a registry change in flight).
	ReasonUnknownServer Reason = "unknown_server"
	// ReasonUnknownTool: tools/call of a tool the registry does not list for
	// that server.
	ReasonUnknownTool Reason = "unknown_tool"
	// ReasonInternal: the gateway could not decide; it denies (fail closed).
	ReasonInternal Reason = "internal_error"

	// ReasonUnauthenticated: no bearer token, or one that failed
	// verification (signature, issuer, audience, expiry). HTTP 401.
	ReasonUnauthenticated Reason = "unauthenticated"
	// ReasonHeaderMismatch: MCP mirror headers (Mcp-Method, Mcp-Name,
	// MCP-Protocol-Version) disagree with the body. HTTP 400, -32020.
	ReasonHeaderMismatch Reason = "header_mismatch"
	// ReasonUnsupportedVersion: an MCP protocol revision we do not parse.
	ReasonUnsupportedVersion Reason = "unsupported_protocol_version"
	// ReasonUnknownAgent: the token's agent is not in the registry.
	ReasonUnknownAgent Reason = "unknown_agent"
	// ReasonUserNotApproved: the user is not in the agent's approved
	// population (users or groups).
	ReasonUserNotApproved Reason = "user_not_approved"
	// ReasonTenantMismatch: the token's tenant is unknown or not one the
	// agent may act in.
	ReasonTenantMismatch Reason = "tenant_mismatch"
	// ReasonOutOfScope: the agent's declared scope does not include the tool.
	ReasonOutOfScope Reason = "tool_out_of_agent_scope"
	// ReasonInvalidArguments: tools/call arguments violate the tool's input
	// schema as pinned in the registry (unknown properties included).
	ReasonInvalidArguments Reason = "invalid_arguments"
	// ReasonRevoked: the user, the acting agent or the session was revoked
	// (offboarding, IdP deprovisioning, an operator's emergency stop).
	ReasonRevoked Reason = "revoked"
	// ReasonToolDefinitionChanged: the upstream server now advertises a
	// definition of the tool (description, schema, annotations) that
	// differs from the one pinned in the registry: a possible rug pull,
	// refused until an owner reviews it and updates the pin.
	ReasonToolDefinitionChanged Reason = "tool_definition_changed"
	// ReasonAuditUnavailable: the audit event describing a call that
	// changes something could not be made durable (the spool is full or
	// failing), so the call is not made.
	ReasonAuditUnavailable Reason = "audit_unavailable"
	// ReasonNotPermitted: SpiceDB says user ∩ agent ∩ tenant may not invoke
	// the tool.
	ReasonNotPermitted Reason = "not_permitted"
	// ReasonRateLimited: a token bucket (tenant, user, agent, server or
	// tool) is empty; the detail says which and when to retry.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonPolicyDenied: OPA policy denied the call.
	ReasonPolicyDenied Reason = "policy_denied"
	// ReasonApprovalRequired: policy requires a human approval first.
	ReasonApprovalRequired Reason = "approval_required"
)

// Decision is the typed result of one Decide call.
type Decision struct {
	ID              string  `json:"id"`
	Outcome         Outcome `json:"outcome"`
	Reason          Reason  `json:"reason"`
	Detail          string  `json:"detail,omitempty"` // safe for the client
	RegistryVersion string  `json:"registryVersion"`
	PolicyRevision  string  `json:"policyRevision,omitempty"`
	Server          string  `json:"server,omitempty"`
	Method          string  `json:"method,omitempty"`
	Tool            string  `json:"tool,omitempty"`

	Principal principal.Principal `json:"principal"`
	// PolicyReasons are the policy's own reason strings.
	PolicyReasons []string `json:"policyReasons,omitempty"`
	// Drift is set when the decision saw a tool whose advertised
	// definition differs from its pin.
	Drift *ToolDrift `json:"drift,omitempty"`
	// Obligations the policy attached to an allow (later: limits, redaction).
	Obligations map[string]any `json:"obligations,omitempty"`
}

// Allowed reports whether the call may proceed.
// ToolDrift records both definition hashes of a changed tool.
type ToolDrift struct {
	Pinned     string `json:"pinned"`
	Advertised string `json:"advertised"`
}

func (d Decision) Allowed() bool { return d.Outcome == Allow }

// Metadata keys under which ext_authz publishes the decision in Envoy dynamic
// metadata (namespace envoy.filters.http.ext_authz) for ext_proc to read.
const (
	MetaDecisionID = "decision_id"
	MetaServer     = "server_id"
	MetaMethod     = "mcp_method"
	MetaTool       = "tool"
	MetaRequestID  = "jsonrpc_id"
	MetaRegistry   = "registry_version"
	MetaPolicy     = "policy_revision"
	MetaUser       = "user"
	MetaAgent      = "agent"
	MetaTenant     = "tenant"
	MetaTask       = "task"
	MetaChain      = "chain" // delegation chain subjects, acting agent first, comma-separated
)

// HeaderDecisionID is the request header carrying the decision id upstream.
const HeaderDecisionID = "x-actiongate-decision-id"
