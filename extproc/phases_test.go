package extproc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/mcp"
)

func TestOnRequestHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rpcID  *structpb.Value
		wantID string
	}{
		{"raw string id", structpb.NewStringValue(`"req-7"`), `"req-7"`},
		{"raw number id", structpb.NewStringValue(`7`), `7`},
		{"bare string id", structpb.NewStringValue(`req-7`), `"req-7"`},
		{"number value id", structpb.NewNumberValue(42), `42`},
		{"fractional number ignored", structpb.NewNumberValue(4.5), ``},
		{"no id", nil, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := headers(false, ":method", "POST", ":path", "/mcp/ehr", "content-type", "application/json",
				"accept-encoding", "gzip", "mcp-session-id", "s-1", "mcp-protocol-version", "2025-11-25")
			resp, st, err := onRequestHeaders(&env{}, state{}, h, authzMetadata("d-1", tc.rpcID))
			if err != nil {
				t.Fatal(err)
			}
			c := resp.GetRequestHeaders().GetResponse()
			if resp.GetRequestHeaders() == nil || c.GetStatus() != extprocv3.CommonResponse_CONTINUE {
				t.Fatalf("want a CONTINUE request_headers answer, got %v", resp)
			}
			if rm := c.GetHeaderMutation().GetRemoveHeaders(); len(rm) != 1 || rm[0] != "accept-encoding" {
				t.Fatalf("remove_headers %v, want [accept-encoding]", rm)
			}
			if resp.GetModeOverride() != nil || c.GetBodyMutation() != nil {
				t.Fatalf("unexpected override or body mutation: %v", resp)
			}
			want := exchange{DecisionID: "d-1", RPCID: json.RawMessage(tc.wantID), HTTPMethod: "POST",
				Path: "/mcp/ehr", SessionID: "s-1", ProtocolVersion: "2025-11-25"}
			if tc.wantID == "" {
				want.RPCID = nil
			}
			if !st.sawRequest || st.x.DecisionID != want.DecisionID || string(st.x.RPCID) != string(want.RPCID) ||
				st.x.Path != want.Path || st.x.SessionID != want.SessionID || st.x.ProtocolVersion != want.ProtocolVersion {
				t.Fatalf("state %+v, want exchange %+v", st, want)
			}
		})
	}
}

func TestOnRequestBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		body       string
		wantStatus int // 0: CONTINUE
		wantCode   int
		wantID     string
		wantTool   string
	}{
		{"tools/call", "POST", `{"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"read_chart","arguments":{}}}`, 0, 0, `"c-1"`, "read_chart"},
		{"notification", "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 0, 0, ``, ""},
		{"client response", "POST", `{"jsonrpc":"2.0","id":3,"result":{"action":"accept"}}`, 0, 0, `3`, ""},
		{"empty body on DELETE", "DELETE", ``, 0, 0, ``, ""},
		{"empty body on POST", "POST", ``, 400, mcp.CodeParseError, ``, ""},
		{"invalid JSON", "POST", `{"jsonrpc":"2.0",`, 400, mcp.CodeParseError, ``, ""},
		{"batch", "POST", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 400, mcp.CodeInvalidRequest, ``, ""},
		{"duplicate key", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}`, 400, mcp.CodeInvalidRequest, ``, ""},
		{"too large", "POST", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2048) + `"}}`, 413, mcp.CodeParseError, ``, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, probs := testEnv()
			e.maxBody = 1024
			st := state{sawRequest: true, x: exchange{HTTPMethod: tc.method}}
			resp, st, err := onRequestBody(e, st, &extprocv3.HttpBody{Body: []byte(tc.body), EndOfStream: true}, authzMetadata("d-2", nil))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantStatus == 0 {
				if resp.GetRequestBody() == nil || resp.GetRequestBody().GetResponse().GetBodyMutation() != nil {
					t.Fatalf("want an unmodified request_body answer, got %v", resp)
				}
				if string(st.x.RPCID) != tc.wantID || st.x.Tool != tc.wantTool {
					t.Fatalf("state id %s tool %q, want %s %q", st.x.RPCID, st.x.Tool, tc.wantID, tc.wantTool)
				}
				return
			}
			body := decodeRPCError(t, checkJSONImmediate(t, resp, tc.wantStatus))
			if body.Error.Code != tc.wantCode || string(body.ID) != "null" ||
				body.Error.Data.Reason != reasonMalformed || body.Error.Data.DecisionID != "d-2" {
				t.Fatalf("error body %+v", body)
			}
			if probs.get(reasonMalformed) != 1 {
				t.Fatalf("malformed_request counted %d times", probs.get(reasonMalformed))
			}
		})
	}
}

func TestStep_TrailersUnknownAndFlowControl(t *testing.T) {
	t.Parallel()
	e, _ := testEnv()
	tests := []struct {
		name    string
		req     *extprocv3.ProcessingRequest
		check   func(*extprocv3.ProcessingResponse) bool
		wantErr error
	}{
		{"request trailers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{RequestTrailers: &extprocv3.HttpTrailers{}}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetRequestTrailers() != nil }, nil},
		{"response trailers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseTrailers() != nil }, nil},
		{"flow control only", &extprocv3.ProcessingRequest{FlowControlInit: &extprocv3.ProcessingRequest_FlowControlInit{}},
			func(r *extprocv3.ProcessingResponse) bool { return r == nil }, nil},
		{"empty message", &extprocv3.ProcessingRequest{}, nil, errUnknownMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, _, err := step(e, state{}, tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(resp) {
				t.Fatalf("unexpected answer %v", resp)
			}
		})
	}
}

func TestInternalError_IsMCPShapedAndOpaque(t *testing.T) {
	t.Parallel()
	resp := internalError(exchange{DecisionID: "d-3", RPCID: json.RawMessage(`"req-9"`)})
	body := decodeRPCError(t, checkJSONImmediate(t, resp, 503))
	if string(body.ID) != `"req-9"` || body.Error.Code != mcp.CodeGatewayError ||
		body.Error.Data.Reason != reasonInternal || body.Error.Data.DecisionID != "d-3" || body.Error.Data.Detail != "" {
		t.Fatalf("error body %+v", body)
	}
	if d := resp.GetImmediateResponse().GetDetails(); strings.ContainsAny(d, " \t") || d == "" {
		t.Fatalf("details %q must be one token", d)
	}
}
