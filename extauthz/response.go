package extauthz

import (
	"net/http"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
)

// denial is how one reason reaches the client.
type denial struct {
	status  int  // HTTP status of Envoy's local reply
	code    int  // JSON-RPC error code
	withID  bool // echo the request id (the client can match it to its call)
	message string
}

// denials maps every deny reason to its response. MCP clients treat 401/403
// as auth challenges and most other non-2xx bodies as a broken connection
// (PROTOCOLS.md D.6), so policy refusals are HTTP 200 with a JSON-RPC error
// that echoes the request id; only protocol errors use 4xx.
var denials = map[decision.Reason]denial{
	decision.ReasonUnknownServer:    {http.StatusOK, mcp.CodePolicyDenied, true, "MCP server not registered with the gateway"},
	decision.ReasonUnknownTool:      {http.StatusOK, mcp.CodePolicyDenied, true, "Tool not registered with the gateway"},
	decision.ReasonMalformed:        {http.StatusBadRequest, mcp.CodeInvalidRequest, false, "Request refused: not one unambiguous JSON-RPC message"},
	decision.ReasonMethodNotAllowed: {http.StatusMethodNotAllowed, mcp.CodeInvalidRequest, false, "HTTP method not allowed on an MCP endpoint"},
	decision.ReasonInternal:         {http.StatusServiceUnavailable, mcp.CodeGatewayError, true, "The gateway could not decide; the call was not made"},
}

// Respond maps a decision to Envoy's CheckResponse. It always returns a
// response: a gRPC error would be Envoy's error path, not a denial.
func Respond(r Result) *authv3.CheckResponse {
	d := r.Decision
	if d.Allowed() {
		return allowResponse(d, r)
	}
	den, ok := denials[d.Reason]
	if !ok {
		den = denials[decision.ReasonInternal]
	}
	id := r.RequestID
	if !den.withID {
		id = nil
	}
	body := mcp.ErrorBody(id, den.code, den.message, &mcp.ErrorData{
		Reason: string(d.Reason), DecisionID: d.ID, Detail: d.Detail,
	})
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: string(d.Reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(den.status)},
			// Denied headers: never set append (Envoy ≤1.36 drops them).
			Headers: []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"}},
				{Header: &corev3.HeaderValue{Key: decision.HeaderDecisionID, Value: d.ID}},
			},
			Body: string(body),
		}},
		DynamicMetadata: metadata(d, r),
	}
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
		"outcome":               structpb.NewStringValue(string(d.Outcome)),
		"reason":                structpb.NewStringValue(string(d.Reason)),
	}
	if len(r.RequestID) > 0 {
		f[decision.MetaRequestID] = structpb.NewStringValue(string(r.RequestID))
	}
	return &structpb.Struct{Fields: f}
}
