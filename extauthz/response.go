package extauthz

import (
	"encoding/json"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/principal"
)

// shape is how a denial's body is built.
type shape int

const (
	rpcError  shape = iota // JSON-RPC error object
	toolError              // tools/call result with isError: the model reads it and can adapt
)

// denial is how one reason reaches the client.
type denial struct {
	status  int  // HTTP status of Envoy's local reply
	code    int  // JSON-RPC error code (rpcError)
	withID  bool // echo the request id (the client can match it to its call)
	shape   shape
	message string
}

// denials maps every deny reason to its response. MCP clients treat 401/403
// as auth challenges and most other non-2xx bodies as a broken connection
// (PROTOCOLS.md D.6): only authentication failures are 401, protocol errors
// 4xx; every authorization or policy refusal is HTTP 200 with a body that
// echoes the request id. Policy outcomes the model can act on (ask for an
// approval, choose another action) are isError tool results.
var denials = map[decision.Reason]denial{
	decision.ReasonUnauthenticated:       {http.StatusUnauthorized, mcp.CodePolicyDenied, false, rpcError, "Authentication required: present a valid bearer token issued for this gateway"},
	decision.ReasonMalformed:             {http.StatusBadRequest, mcp.CodeInvalidRequest, false, rpcError, "Request refused: not one unambiguous JSON-RPC message"},
	decision.ReasonHeaderMismatch:        {http.StatusBadRequest, mcp.CodeHeaderMismatch, true, rpcError, "MCP headers do not match the request body"},
	decision.ReasonUnsupportedVersion:    {http.StatusBadRequest, mcp.CodeUnsupportedProtocolVersion, true, rpcError, "Unsupported MCP protocol version"},
	decision.ReasonMethodNotAllowed:      {http.StatusMethodNotAllowed, mcp.CodeInvalidRequest, false, rpcError, "HTTP method not allowed on an MCP endpoint"},
	decision.ReasonUnknownServer:         {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "MCP server not registered with the gateway"},
	decision.ReasonUnknownTool:           {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Tool not registered with the gateway"},
	decision.ReasonUnknownAgent:          {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Agent not registered with the gateway"},
	decision.ReasonUserNotApproved:       {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "This agent is not approved to act for this user"},
	decision.ReasonTenantMismatch:        {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "This agent may not act in this tenant"},
	decision.ReasonOutOfScope:            {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Tool outside this agent's declared scope"},
	decision.ReasonRevoked:               {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Access revoked"},
	decision.ReasonToolDefinitionChanged: {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Tool definition changed upstream since it was reviewed; calls are refused until the registry pin is updated"},
	decision.ReasonAuditUnavailable:      {http.StatusServiceUnavailable, mcp.CodeGatewayError, true, rpcError, "The call could not be recorded in the audit trail, so it was not made"},
	decision.ReasonInvalidArguments:      {http.StatusOK, mcp.CodeInvalidParams, true, rpcError, "Invalid tool arguments"},
	decision.ReasonNotPermitted:          {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Not permitted: this user, through this agent, may not use this tool"},
	decision.ReasonRateLimited:           {http.StatusOK, mcp.CodePolicyDenied, true, rpcError, "Rate limit reached; retry later"},
	decision.ReasonPolicyDenied:          {http.StatusOK, mcp.CodePolicyDenied, true, toolError, "Blocked by gateway policy"},
	decision.ReasonApprovalRequired:      {http.StatusOK, mcp.CodePolicyDenied, true, toolError, "Human approval required before this call can run"},
	decision.ReasonInternal:              {http.StatusServiceUnavailable, mcp.CodeGatewayError, true, rpcError, "The gateway could not decide; the call was not made"},
}

// Respond maps a decision to Envoy's CheckResponse. It always returns a
// response: a gRPC error would be Envoy's error path, not a denial.
func Respond(r Result, m MetadataOptions) *authv3.CheckResponse {
	d := r.Decision
	if d.Allowed() {
		return allowResponse(d, r)
	}
	den, ok := denials[d.Reason]
	if !ok {
		den = denials[decision.ReasonInternal]
	}
	headers := []*corev3.HeaderValueOption{
		{Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"}},
		{Header: &corev3.HeaderValue{Key: decision.HeaderDecisionID, Value: d.ID}},
	}
	if d.Reason == decision.ReasonUnauthenticated {
		headers = append(headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{
			Key: "www-authenticate", Value: wwwAuthenticate(m.MetadataURL(d.Server), r.TokenPresented)}})
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: string(d.Reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(den.status)},
			Headers: headers, // never set append on denied headers (Envoy ≤1.36 drops them)
			Body:    string(denialBody(den, d, r.RequestID)),
		}},
		DynamicMetadata: metadata(d, r),
	}
}

func denialBody(den denial, d decision.Decision, id json.RawMessage) []byte {
	data := &mcp.ErrorData{Reason: string(d.Reason), DecisionID: d.ID, Detail: d.Detail}
	if den.shape == toolError && len(id) > 0 {
		text := den.message + " (" + string(d.Reason) + ")"
		if d.Detail != "" {
			text += ": " + d.Detail
		}
		return mcp.ToolErrorBody(id, text+". Decision "+d.ID+".", data)
	}
	if !den.withID {
		id = nil
	}
	return mcp.ErrorBody(id, den.code, den.message, data)
}

// wwwAuthenticate points the client at the resource's metadata (RFC 9728
// §5.1); error="invalid_token" only when a token was presented (RFC 6750
// §3.1: a request without credentials gets no error code).
func wwwAuthenticate(metadataURL string, presented bool) string {
	v := `Bearer resource_metadata="` + metadataURL + `"`
	if presented {
		v += `, error="invalid_token"`
	}
	return v
}

func allowResponse(d decision.Decision, r Result) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			// append=false overwrites on every Envoy version (append_action
			// is ignored before 1.38), so a client cannot pre-set it.
			Headers: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: decision.HeaderDecisionID, Value: d.ID},
				Append: wrapperspb.Bool(false),
			}},
			// The agent's credential never reaches an upstream (no token
			// passthrough); upstream credentials are brokered separately.
			HeadersToRemove: []string{"authorization"},
		}},
		DynamicMetadata: metadata(d, r),
	}
}

// metadata is what ext_proc learns about the decision (namespace
// envoy.filters.http.ext_authz, forwarded by metadata_options).
func metadata(d decision.Decision, r Result) *structpb.Struct {
	f := map[string]*structpb.Value{
		decision.MetaDecisionID: structpb.NewStringValue(d.ID),
		decision.MetaServer:     structpb.NewStringValue(d.Server),
		decision.MetaMethod:     structpb.NewStringValue(d.Method),
		decision.MetaTool:       structpb.NewStringValue(d.Tool),
		decision.MetaRegistry:   structpb.NewStringValue(d.RegistryVersion),
		decision.MetaPolicy:     structpb.NewStringValue(d.PolicyRevision),
		decision.MetaUser:       structpb.NewStringValue(d.Principal.User),
		decision.MetaAgent:      structpb.NewStringValue(d.Principal.Agent),
		decision.MetaTenant:     structpb.NewStringValue(d.Principal.Tenant),
		decision.MetaTask:       structpb.NewStringValue(d.Principal.Task),
		decision.MetaChain:      structpb.NewStringValue(chainString(d.Principal.Chain)),
		"outcome":               structpb.NewStringValue(string(d.Outcome)),
		"reason":                structpb.NewStringValue(string(d.Reason)),
	}
	if len(r.RequestID) > 0 {
		f[decision.MetaRequestID] = structpb.NewStringValue(string(r.RequestID))
	}
	return &structpb.Struct{Fields: f}
}

func chainString(chain []principal.Actor) string {
	subs := make([]string, len(chain))
	for i, a := range chain {
		subs[i] = a.Subject
	}
	return strings.Join(subs, ",")
}
