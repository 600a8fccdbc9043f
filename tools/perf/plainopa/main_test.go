package main

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// The baseline must decide like the gateway's policy does, or comparing
// the two measures different work.
func TestCheck_EvaluatesTheDefaultPolicy(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..")
	servers := map[string]*server{}
	for _, mode := range []string{"maps", "engine"} {
		s, err := newServer(context.Background(), filepath.Join(root, "policy"), filepath.Join(root, "examples", "registry"), mode)
		if err != nil {
			t.Fatal(err)
		}
		servers[mode] = s
	}
	token := "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"trader-bob","azp":"trade-executor","tenant":"northwind"}`)) + "."
	tests := []struct {
		name string
		body string
		want codes.Code
	}{
		{"quote", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_quote","arguments":{"symbol":"ACME"}}}`, codes.OK},
		{"small trade", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"place_trade","arguments":{"symbol":"ACME","side":"buy","quantity":10,"account":"A"}}}`, codes.OK},
		{"large trade", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"place_trade","arguments":{"symbol":"ACME","side":"buy","quantity":100,"account":"A"}}}`, codes.PermissionDenied},
		{"restricted", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"place_trade","arguments":{"symbol":"RSTR","side":"buy","quantity":1,"account":"A"}}}`, codes.PermissionDenied},
		{"not json", `{`, codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: "POST", Path: "/mcp/trading", RawBody: []byte(tc.body),
					HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "authorization", RawValue: []byte("Bearer " + token)}}},
				}},
				ContextExtensions: map[string]string{"server_id": "trading"},
			}}
			for mode, s := range servers {
				resp, err := s.Check(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				if got := codes.Code(resp.GetStatus().GetCode()); got != tc.want {
					t.Errorf("%s: status %v (%s), want %v", mode, got, resp.GetStatus().GetMessage(), tc.want)
				}
			}
		})
	}
}
