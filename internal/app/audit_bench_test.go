package app

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkCheck_Audited drives ext_authz Checks over gRPC with the audit
// trail on (spool + shipper to a real Kafka-protocol broker) or off, to
// see what auditing costs the decision process:
//
//	go test ./internal/app -run '^$' -bench Check_Audited -benchtime 5000x -cpuprofile /tmp/cpu.prof
//
// The broker (kfake) runs in the same process; in a profile its frames are
// github.com/twmb/franz-go/pkg/kfake.
func BenchmarkCheck_Audited(b *testing.B) {
	for _, audited := range []bool{false, true} {
		name := map[bool]string{false: "audit-off", true: "audit-on"}[audited]
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := newAuditRig(b, ctx)
			if !audited {
				r.cfg.Audit.Disabled = true
				r.restartApp()
			}
			conn, err := grpc.NewClient(r.app.Addr(ServiceExtAuthz), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := authv3.NewAuthorizationClient(conn)
			req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Method: "POST", Path: "/mcp/trading",
					HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
						{Key: ":method", RawValue: []byte("POST")}, {Key: "content-type", RawValue: []byte("application/json")},
						{Key: "mcp-protocol-version", RawValue: []byte("2025-06-18")},
						{Key: "authorization", RawValue: []byte("Bearer " + r.token)},
					}},
					RawBody: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_quote","arguments":{"symbol":"ACME"}}}`),
				}},
				ContextExtensions: map[string]string{"server_id": "trading"},
			}}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Check(ctx, req)
					if err != nil || resp.GetOkResponse() == nil {
						b.Errorf("check: %v %v", err, resp.GetDeniedResponse())
						return
					}
				}
			})
		})
	}
}
