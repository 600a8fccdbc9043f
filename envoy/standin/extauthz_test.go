package standin

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func headerMapValues(hm *corev3.HeaderMap, key string) []string {
	var out []string
	for _, h := range hm.GetHeaders() {
		if h.GetKey() == key {
			out = append(out, string(h.GetRawValue()))
		}
	}
	return out
}

func TestExtAuthz_CheckRequestShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := "{\"jsonrpc\":\"2.0\",\"id\":1,\"x\":\"\xff\xfe\"}" // not valid UTF-8: raw_body must keep it
	resp, out := h.post("/mcp/ehr?q=1", body, "X-Dup", "a", "X-Dup", "b", "X-Envoy-Auth-Partial-Body", "spoofed")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	checks := h.authz.checks()
	if len(checks) != 1 {
		t.Fatalf("%d checks", len(checks))
	}
	attrs := checks[0].GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	if got := attrs.GetContextExtensions(); got["server_id"] != "ehr" || got["registry_version"] != registryVer {
		t.Errorf("context_extensions = %v", got)
	}
	if string(hr.GetRawBody()) != body || hr.GetBody() != "" {
		t.Errorf("raw_body = %q body = %q", hr.GetRawBody(), hr.GetBody())
	}
	if hr.GetHeaders() != nil {
		t.Errorf("headers map set although encode_raw_headers is on: %v", hr.GetHeaders())
	}
	hm := hr.GetHeaderMap()
	for key, want := range map[string][]string{
		"x-dup": {"a", "b"}, "x-envoy-auth-partial-body": {"false"}, ":method": {"POST"},
		":path": {"/mcp/ehr?q=1"}, ":scheme": {"http"}, ":authority": {h.addr}, "x-forwarded-proto": {"http"},
	} {
		if got := headerMapValues(hm, key); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("header_map[%s] = %q, want %q", key, got, want)
		}
	}
	rid := headerMapValues(hm, "x-request-id")
	if len(rid) != 1 || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(rid[0]) {
		t.Errorf("x-request-id = %q, want a UUIDv4", rid)
	}
	if _, err := strconv.ParseUint(hr.GetId(), 10, 64); err != nil || hr.GetId() == rid[0] {
		t.Errorf("id = %q: want the decimal stream id, not x-request-id", hr.GetId())
	}
	checkRequestAttributes(t, h, attrs, len(body))
}

func checkRequestAttributes(t *testing.T, h *harness, attrs *authv3.AttributeContext, bodyLen int) {
	t.Helper()
	hr := attrs.GetRequest().GetHttp()
	if hr.GetProtocol() != "HTTP/1.1" || hr.GetSize() != int64(bodyLen) || hr.GetHost() != h.addr || hr.GetPath() != "/mcp/ehr?q=1" {
		t.Errorf("protocol %q size %d host %q path %q", hr.GetProtocol(), hr.GetSize(), hr.GetHost(), hr.GetPath())
	}
	if attrs.GetSource().GetAddress().GetSocketAddress().GetAddress() != "127.0.0.1" {
		t.Errorf("source = %v", attrs.GetSource())
	}
	_, port, _ := strings.Cut(h.addr, ":")
	if got := attrs.GetDestination().GetAddress().GetSocketAddress().GetPortValue(); strconv.Itoa(int(got)) != port {
		t.Errorf("destination port %d, want %s", got, port)
	}
	if attrs.GetRequest().GetTime() == nil {
		t.Error("request.time not set")
	}
}

func TestExtAuthz_GetHasNoBodyOrPartialHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, h.url("/mcp/ehr"), nil)
	if resp, _ := h.do(req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	hr := h.authz.checks()[0].GetAttributes().GetRequest().GetHttp()
	if len(hr.GetRawBody()) != 0 || len(headerMapValues(hr.GetHeaderMap(), "x-envoy-auth-partial-body")) != 0 || hr.GetSize() != 0 {
		t.Errorf("bodiless check carries body data: raw_body %q header_map %v size %d", hr.GetRawBody(), hr.GetHeaderMap(), hr.GetSize())
	}
}

func TestExtAuthz_DenyWithCustomReply(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.authz.script(func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
				Headers: []*corev3.HeaderValueOption{
					{Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"}},
					{Header: &corev3.HeaderValue{Key: "Set-Cookie", Value: "a=1"}},
					{Header: &corev3.HeaderValue{Key: "set-cookie", Value: "b=2"}},
				},
				Body: `{"error":"denied"}`,
			}},
		}, nil
	})
	resp, body := h.post("/mcp/ehr", `{}`)
	if resp.StatusCode != http.StatusUnauthorized || string(body) != `{"error":"denied"}` {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if c := resp.Header.Values("Set-Cookie"); strings.Join(c, ";") != "a=1;b=2" {
		t.Errorf("set-cookie %q", c)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream was called for a denied request")
	}
	// The local reply traverses ext_proc's encoder: its stream starts with
	// response_headers (carrying protocol_config) and never saw the request.
	streams := h.proc.recorded()
	if len(streams) != 1 || len(streams[0]) == 0 {
		t.Fatalf("ext_proc streams %v", streams)
	}
	first := streams[0][0]
	if first.GetResponseHeaders() == nil || first.GetProtocolConfig() == nil {
		t.Fatalf("first ext_proc message = %v, want response_headers with protocol_config", first)
	}
	if got := headerMapValues(first.GetResponseHeaders().GetHeaders(), ":status"); len(got) != 1 || got[0] != "401" {
		t.Errorf(":status seen by ext_proc = %v", got)
	}
}

func TestExtAuthz_ErrorsUseStatusOnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A gRPC error is not a denial: it is the error path (status_on_error).
	h.authz.script(func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return nil, status.Error(codes.PermissionDenied, "no")
	})
	if resp, body := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusServiceUnavailable || len(body) != 0 {
		t.Errorf("gRPC error: got %d %q, want 503 with no body", resp.StatusCode, body)
	}
	// An unreachable ext_authz cluster is the same error path.
	h.cfg.authzAddr = "127.0.0.1:1"
	v := h.setConfig(h.cfg)
	eventually(t, "new clusters", func() bool { return h.proxy.Stats().AppliedVersion["CDS"] == v })
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unreachable: got %d, want 503", resp.StatusCode)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream reached despite ext_authz failure")
	}
}

func TestExtAuthz_BodyOverLimitIs413WithoutCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *testConfig) {
		c.extAuthz = func(a *extauthzv3.ExtAuthz) { a.WithRequestBody.MaxRequestBytes = 1024 }
	}))
	resp, body := h.post("/mcp/ehr", strings.Repeat("x", 1025))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != "Payload Too Large" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if n := len(h.authz.checks()); n != 0 {
		t.Errorf("%d checks for an oversized body", n)
	}
	if resp, _ := h.post("/mcp/ehr", strings.Repeat("x", 1024)); resp.StatusCode != http.StatusOK {
		t.Errorf("body at the limit: %d", resp.StatusCode)
	}
}

func TestRoute_NoRouteIs404AndSkipsExtAuthz(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp, _ := h.post("/mcp/unknown", `{}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := len(h.authz.checks()); n != 0 {
		t.Errorf("ext_authz called %d times for a request without a route", n)
	}
	if n := h.proxy.Stats().LocalReplies[http.StatusNotFound]; n != 1 {
		t.Errorf("local 404 replies counted: %d", n)
	}
	// ext_proc still runs (Envoy skips only ext_authz), then sees the 404.
	s := h.proc.recorded()
	if len(s) != 1 || s[0][0].GetRequestHeaders() == nil || s[0][len(s[0])-1].GetResponseHeaders() == nil {
		t.Errorf("ext_proc messages %v", s)
	}
}

func TestRoute_DisabledFiltersPerRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, h.url("/.well-known/oauth-protected-resource"), nil)
	if resp, _ := h.do(req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(h.authz.checks()) != 0 || len(h.proc.recorded()) != 0 {
		t.Errorf("disabled filters ran: %d checks, %d ext_proc streams", len(h.authz.checks()), len(h.proc.recorded()))
	}
}

// okWithHeaders allows with the given request-header mutations and metadata.
func okWithHeaders(headers ...*corev3.HeaderValueOption) func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
	md, _ := structpb.NewStruct(map[string]any{"principal": "alice", "decision_id": "d-1"})
	return func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers:              headers,
				HeadersToRemove:      []string{"authorization", ":path", "host"},
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-decision", Value: "d-1"}, Append: wrapperspb.Bool(false)}},
			}},
			DynamicMetadata: md,
		}, nil
	}
}

func TestExtAuthz_OkMutationsAndMetadataReachExtProc_Envoy138(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.authz.script(okWithHeaders(&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-gw-principal", Value: "alice"}, Append: wrapperspb.Bool(false)}))
	resp, body := h.post("/mcp/ehr", `{}`, "Authorization", "Bearer agent-token", "X-Gw-Principal", "spoofed")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	var seen seenRequest
	_ = json.Unmarshal(body, &seen)
	if got := seen.Header.Values("X-Gw-Principal"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("upstream x-gw-principal = %q", got)
	}
	if seen.Header.Get("Authorization") != "" || seen.Path != "/mcp" {
		t.Errorf("upstream authorization %q path %q", seen.Header.Get("Authorization"), seen.Path)
	}
	if resp.Header.Get("X-Decision") != "d-1" {
		t.Errorf("response_headers_to_add missing: %v", resp.Header)
	}
	msgs := h.proc.recorded()[0]
	for i, m := range msgs {
		md := m.GetMetadataContext().GetFilterMetadata()[authzFilter]
		if md.GetFields()["principal"].GetStringValue() != "alice" || md.GetFields()["ext_authz_duration"] == nil {
			t.Errorf("ext_proc message %d metadata_context = %v", i, m.GetMetadataContext())
		}
		if (i == 0) != (m.GetProtocolConfig() != nil) {
			t.Errorf("message %d protocol_config = %v (only the first carries it)", i, m.GetProtocolConfig())
		}
	}
}

// TestExtAuthz_AppendSemantics_ByVersion: an OkHttpResponse header with no
// `append` and the default append_action overwrites before 1.38 and adds
// another entry from 1.38; `append: true` comma-appends to an existing
// header on every version and is a no-op for an absent one.
func TestExtAuthz_AppendSemantics_ByVersion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		version    string
		wantTenant []string
	}{
		{"1.37", []string{"b"}},
		{"1.38", []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run("Envoy"+tc.version, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, withEnvoyVersion(tc.version))
			h.authz.script(okWithHeaders(
				&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-tenant", Value: "b"}},
				&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-list", Value: "2"}, Append: wrapperspb.Bool(true)},
				&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-absent", Value: "1"}, Append: wrapperspb.Bool(true)},
			))
			_, body := h.post("/mcp/ehr", `{}`, "X-Tenant", "a", "X-List", "1")
			var seen seenRequest
			_ = json.Unmarshal(body, &seen)
			if got := seen.Header.Values("X-Tenant"); strings.Join(got, "|") != strings.Join(tc.wantTenant, "|") {
				t.Errorf("x-tenant = %q, want %q", got, tc.wantTenant)
			}
			if got := seen.Header.Values("X-List"); len(got) != 1 || got[0] != "1,2" {
				t.Errorf("x-list = %q, want [1,2]", got)
			}
			if seen.Header.Get("X-Absent") != "" {
				t.Errorf("append to an absent header added it")
			}
		})
	}
}

func TestExtAuthz_ValidateMutationsRejectsInvalidHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.authz.script(okWithHeaders(&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-bad", Value: "a\r\nb"}}))
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if len(h.upstream.requests()) != 0 {
		t.Error("upstream reached")
	}
}
