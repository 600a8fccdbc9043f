package extauthz

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/principal"
)

type rpcBody struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   *struct {
		Code int           `json:"code"`
		Data mcp.ErrorData `json:"data"`
	} `json:"error"`
	Result *struct {
		IsError bool          `json:"isError"`
		Meta    mcp.ErrorData `json:"_meta"`
	} `json:"result"`
}

var testMeta = MetadataOptions{PublicURL: "https://gw.example.com"}

func TestRespond_EveryReason(t *testing.T) {
	tests := []struct {
		reason decision.Reason
		status int
		code   int // 0: an isError tool result
		echoID bool
	}{
		{decision.ReasonUnauthenticated, http.StatusUnauthorized, mcp.CodePolicyDenied, false},
		{decision.ReasonMalformed, http.StatusBadRequest, mcp.CodeInvalidRequest, false},
		{decision.ReasonHeaderMismatch, http.StatusBadRequest, mcp.CodeHeaderMismatch, true},
		{decision.ReasonUnsupportedVersion, http.StatusBadRequest, mcp.CodeUnsupportedProtocolVersion, true},
		{decision.ReasonMethodNotAllowed, http.StatusMethodNotAllowed, mcp.CodeInvalidRequest, false},
		{decision.ReasonUnknownServer, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonUnknownTool, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonUnknownAgent, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonUserNotApproved, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonTenantMismatch, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonOutOfScope, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonNotPermitted, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonInvalidArguments, http.StatusOK, mcp.CodeInvalidParams, true},
		{decision.ReasonRateLimited, http.StatusOK, mcp.CodePolicyDenied, true},
		{decision.ReasonPolicyDenied, http.StatusOK, 0, true},
		{decision.ReasonApprovalRequired, http.StatusOK, 0, true},
		{decision.ReasonInternal, http.StatusServiceUnavailable, mcp.CodeGatewayError, true},
		{decision.Reason("reason_nobody_mapped"), http.StatusServiceUnavailable, mcp.CodeGatewayError, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.reason), func(t *testing.T) {
			t.Parallel()
			res := Respond(Result{
				Decision:  decision.Decision{ID: "d-42", Outcome: decision.Deny, Reason: tc.reason, Detail: "why", Server: "ehr"},
				RequestID: json.RawMessage(`"req-7"`), TokenPresented: true,
			}, testMeta)
			if res.GetStatus().GetCode() != int32(codes.PermissionDenied) {
				t.Fatalf("status code %d, want PERMISSION_DENIED (a denial, never the error path)", res.GetStatus().GetCode())
			}
			dr := res.GetDeniedResponse()
			if int(dr.GetStatus().GetCode()) != tc.status {
				t.Errorf("HTTP status %d, want %d", dr.GetStatus().GetCode(), tc.status)
			}
			hdr := map[string]string{}
			for _, h := range dr.GetHeaders() {
				if h.GetAppend() != nil {
					t.Errorf("denied header %s sets append; Envoy ≤1.36 drops such headers", h.GetHeader().GetKey())
				}
				hdr[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
			}
			if hdr["content-type"] != "application/json" || hdr[decision.HeaderDecisionID] != "d-42" {
				t.Errorf("headers %v", hdr)
			}
			wantChallenge := tc.reason == decision.ReasonUnauthenticated
			if got := hdr["www-authenticate"]; (got != "") != wantChallenge ||
				(wantChallenge && got != `Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp/ehr", error="invalid_token"`) {
				t.Errorf("www-authenticate %q", got)
			}
			var body rpcBody
			if err := json.Unmarshal([]byte(dr.GetBody()), &body); err != nil {
				t.Fatalf("body %q: %v", dr.GetBody(), err)
			}
			wantID := "null"
			if tc.echoID {
				wantID = `"req-7"`
			}
			if body.JSONRPC != "2.0" || string(body.ID) != wantID {
				t.Errorf("body %s: want id %s", dr.GetBody(), wantID)
			}
			var data mcp.ErrorData
			switch {
			case tc.code == 0 && body.Result != nil && body.Result.IsError:
				data = body.Result.Meta
			case tc.code != 0 && body.Error != nil && body.Error.Code == tc.code:
				data = body.Error.Data
			default:
				t.Fatalf("body %s: want code %d (0 = isError result)", dr.GetBody(), tc.code)
			}
			if data.DecisionID != "d-42" || data.Reason == "" {
				t.Errorf("data %+v must carry the decision id and reason", data)
			}
			if res.GetDynamicMetadata().GetFields()[decision.MetaDecisionID].GetStringValue() != "d-42" {
				t.Error("the decision id must reach dynamic metadata")
			}
		})
	}
}

func TestRespond_NoTokenNoErrorCode(t *testing.T) {
	res := Respond(Result{Decision: decision.Decision{ID: "d", Outcome: decision.Deny, Reason: decision.ReasonUnauthenticated, Server: "ehr"}}, testMeta)
	for _, h := range res.GetDeniedResponse().GetHeaders() {
		if h.GetHeader().GetKey() == "www-authenticate" && strings.Contains(h.GetHeader().GetValue(), "error=") {
			t.Errorf("RFC 6750 §3.1: no error code when no credentials were sent: %q", h.GetHeader().GetValue())
		}
	}
}

func TestRespond_Allow(t *testing.T) {
	res := Respond(Result{
		Decision: decision.Decision{ID: "d-1", Outcome: decision.Allow, Reason: decision.ReasonAllowed, Server: "ehr", Tool: "read_chart",
			Principal: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys"}, PolicyRevision: "sha256:p"},
		RequestID: json.RawMessage(`7`),
	}, testMeta)
	if res.GetStatus().GetCode() != 0 {
		t.Fatalf("status %v", res.GetStatus())
	}
	ok := res.GetOkResponse()
	if len(ok.GetHeaders()) != 1 || ok.GetHeaders()[0].GetHeader().GetKey() != decision.HeaderDecisionID ||
		ok.GetHeaders()[0].GetAppend() == nil || ok.GetHeaders()[0].GetAppend().GetValue() {
		t.Errorf("ok headers %v: want the decision id with explicit append=false (overwrite)", ok.GetHeaders())
	}
	if len(ok.GetHeadersToRemove()) != 1 || ok.GetHeadersToRemove()[0] != "authorization" {
		t.Errorf("headers_to_remove %v: the agent's credential must not pass upstream", ok.GetHeadersToRemove())
	}
	md := res.GetDynamicMetadata().GetFields()
	if md[decision.MetaTool].GetStringValue() != "read_chart" || md[decision.MetaRequestID].GetStringValue() != "7" ||
		md[decision.MetaUser].GetStringValue() != "dr-alice" || md[decision.MetaAgent].GetStringValue() != "note-summarizer" ||
		md[decision.MetaTenant].GetStringValue() != "st-marys" || md[decision.MetaPolicy].GetStringValue() != "sha256:p" {
		t.Errorf("metadata %v", md)
	}
}
