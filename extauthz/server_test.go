package extauthz

import (
	"context"
	"net"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/registry"
)

func startServer(t *testing.T, reg func() *registry.Registry) (authv3.AuthorizationClient, *Server) {
	t.Helper()
	pol := defaultPolicy(t)
	s := New(Options{Registry: reg, Metrics: prometheus.NewRegistry(), Auth: tokens{"alice": alice},
		Authz:  grants{"dr-alice|note-summarizer|st-marys|ehr/read_chart": true},
		Policy: func() Policy { return pol }, Metadata: testMeta, Schemas: &SchemaCache{}})
	g := grpc.NewServer()
	s.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return authv3.NewAuthorizationClient(conn), s
}

// checkRequest is shaped like Envoy's with encode_raw_headers and
// pack_as_bytes (PROTOCOLS.md A.2).
func checkRequest(server, body string, partial bool) *authv3.CheckRequest {
	hdrs := []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte("POST")},
		{Key: ":path", RawValue: []byte("/mcp/" + server)},
		{Key: "content-type", RawValue: []byte("application/json")},
		{Key: "x-request-id", RawValue: []byte("4f1c1c4e-0000-4000-8000-000000000001")},
		{Key: "mcp-protocol-version", RawValue: []byte("2025-06-18")},
		{Key: "authorization", RawValue: []byte("Bearer alice")},
	}
	if partial {
		hdrs = append(hdrs, &corev3.HeaderValue{Key: "x-envoy-auth-partial-body", RawValue: []byte("true")})
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: "POST", Path: "/mcp/" + server, Protocol: "HTTP/1.1",
			HeaderMap: &corev3.HeaderMap{Headers: hdrs},
			RawBody:   []byte(body),
		}},
		ContextExtensions: map[string]string{ContextServerID: server, "registry_version": "sha256:abcd"},
	}}
}

func TestServer_Check(t *testing.T) {
	reg := exampleRegistry(t)
	client, s := startServer(t, func() *registry.Registry { return reg })
	call := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p-1"}}}`
	tests := []struct {
		name    string
		req     *authv3.CheckRequest
		allowed bool
		reason  decision.Reason
	}{
		{"allowed", checkRequest("ehr", call, false), true, decision.ReasonAllowed},
		{"partial body", checkRequest("ehr", call, true), false, decision.ReasonMalformed},
		{"unknown server", checkRequest("shadow", call, false), false, decision.ReasonUnknownServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Check(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Check returned a gRPC error (Envoy's error path, not a denial): %v", err)
			}
			md := resp.GetDynamicMetadata().GetFields()
			if (resp.GetStatus().GetCode() == 0) != tc.allowed || md["reason"].GetStringValue() != string(tc.reason) {
				t.Fatalf("status %v reason %s; want allowed=%v reason %s", resp.GetStatus(), md["reason"].GetStringValue(), tc.allowed, tc.reason)
			}
			if len(md[decision.MetaDecisionID].GetStringValue()) != 32 {
				t.Errorf("decision id %q", md[decision.MetaDecisionID].GetStringValue())
			}
		})
	}
	if n := testutil.ToFloat64(s.decisions.WithLabelValues("deny", string(decision.ReasonUnknownServer))); n != 1 {
		t.Errorf("unknown_server denials counted %v, want 1", n)
	}
}

func TestServer_NoRegistryFailsClosed(t *testing.T) {
	client, _ := startServer(t, func() *registry.Registry { return nil })
	resp, err := client.Check(context.Background(), checkRequest("ehr", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, false))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() == 0 || resp.GetDeniedResponse().GetStatus().GetCode() != 503 {
		t.Fatalf("without a registry: %v, want a 503 denial", resp)
	}
}
