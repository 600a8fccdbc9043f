// Command nullauthz is an Envoy ext_authz server that allows everything
// without looking: the floor of any ext_authz comparison (gRPC, protobuf
// decoding and the response, nothing else). See tools/perf/README.md.
package main

import (
	"context"
	"log/slog"
	"os"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/actiongate/actiongate/tools/perf/internal/perfserver"
)

type server struct {
	authv3.UnimplementedAuthorizationServer
}

// ok is shared: the response is the same for every request.
var ok = &authv3.CheckResponse{
	Status:       &status.Status{Code: int32(codes.OK)},
	HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
}

func (server) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return ok, nil
}

func main() {
	os.Exit(perfserver.Main("nullauthz", os.Args[1:], os.Stderr, nil,
		func(ctx context.Context, f perfserver.Flags, log *slog.Logger) error {
			return perfserver.Run(ctx, f, log, func(g *grpc.Server) {
				authv3.RegisterAuthorizationServer(g, server{})
			})
		}))
}
