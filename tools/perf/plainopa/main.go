// Command plainopa is the baseline ActionGate's ext_authz is measured
// against: an Envoy ext_authz server that evaluates the same Rego bundle the
// way a typical opa-envoy-plugin-style deployment does (-mode maps, the
// default). Per request it decodes the body with encoding/json into
// map[string]any, builds the input as nested maps, and calls a prepared
// query with rego's defaults (raw input converted by rego, results
// converted to Go values). -mode engine does the same work through
// internal/mcp and internal/policy instead (engine.go).
//
// It is a load-test tool, not a gateway: it does not verify the token's
// signature (that would only add cost), and it answers a denial with a
// bare 403.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/tools/perf/internal/perfserver"
)

type server struct {
	authv3.UnimplementedAuthorizationServer
	query  rego.PreparedEvalQuery
	engine *policy.Engine // -mode engine; nil in maps mode
	reg    *registry.Registry
}

func main() {
	var policyDir, registryDir, mode string
	os.Exit(perfserver.Main("plainopa", os.Args[1:], os.Stderr,
		func(fs *flag.FlagSet) {
			fs.StringVar(&policyDir, "policy", "policy", "Rego bundle directory (*_test.rego files are skipped)")
			fs.StringVar(&registryDir, "registry", "examples/registry", "registry directory (agent tiers, tool annotations)")
			fs.StringVar(&mode, "mode", "maps", "maps (plain OPA) or engine (internal/policy)")
		},
		func(ctx context.Context, f perfserver.Flags, log *slog.Logger) error {
			s, err := newServer(ctx, policyDir, registryDir, mode)
			if err != nil {
				return err
			}
			return perfserver.Run(ctx, f, log, func(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) })
		}))
}

func newServer(ctx context.Context, policyDir, registryDir, mode string) (*server, error) {
	reg, err := registry.Load(registryDir)
	if err != nil {
		return nil, err
	}
	switch mode {
	case "maps":
	case "engine":
		b, err := policy.LoadBundle(policyDir)
		if err != nil {
			return nil, err
		}
		e, err := policy.Compile(ctx, b)
		if err != nil {
			return nil, err
		}
		return &server{engine: e, reg: reg}, nil
	default:
		return nil, fmt.Errorf("-mode %q: want maps or engine", mode)
	}
	skipTests := func(_ string, info os.FileInfo, _ int) bool {
		return !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
	}
	pq, err := rego.New(
		rego.Query("data.actiongate.authz.decision"),
		rego.Load([]string{policyDir}, skipTests),
		rego.SetRegoVersion(ast.RegoV1),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", policyDir, err)
	}
	return &server{query: pq, reg: reg}, nil
}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if s.engine != nil {
		return s.checkEngine(ctx, req), nil
	}
	input, err := s.input(req)
	if err != nil {
		return denied(err.Error()), nil
	}
	rs, err := s.query.Eval(ctx, rego.EvalInput(input))
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return denied("policy evaluation failed"), nil
	}
	d, _ := rs[0].Expressions[0].Value.(map[string]any)
	if allow, _ := d["allow"].(bool); !allow {
		return denied(fmt.Sprint(d["reasons"])), nil
	}
	return allowed(), nil
}

// input builds the policy input (docs/policy.md) from the request the
// straightforward way: maps all the way down.
func (s *server) input(req *authv3.CheckRequest) (map[string]any, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	var body map[string]any
	if err := json.Unmarshal(h.GetRawBody(), &body); err != nil {
		return nil, errors.New("body is not JSON")
	}
	params, _ := body["params"].(map[string]any)
	toolName, _ := params["name"].(string)
	claims, err := tokenClaims(header(h, "authorization"))
	if err != nil {
		return nil, err
	}
	agentID, _ := claims["azp"].(string)
	input := map[string]any{
		"principal": map[string]any{
			"user": claims["sub"], "agent": agentID, "tenant": claims["tenant"], "task": header(h, "x-actiongate-task"),
			"groups": orEmpty(claims["groups"]), "chain": []any{},
		},
		"call":             map[string]any{"method": body["method"], "arguments": orEmptyObject(params["arguments"])},
		"time":             time.Now().UTC().Format(time.RFC3339Nano),
		"registry_version": s.reg.Version.String(),
	}
	if a, ok := s.reg.Agent(agentID); ok {
		input["agent"] = map[string]any{"id": a.ID, "tier": int(a.Tier), "owner": a.Owner}
	}
	srv, ok := s.reg.Server(req.GetAttributes().GetContextExtensions()["server_id"])
	if !ok {
		return nil, errors.New("unknown server")
	}
	input["server"] = map[string]any{"id": srv.ID, "classification": string(srv.Classification)}
	if t, ok := srv.Tool(toolName); ok {
		input["tool"] = map[string]any{"name": t.Name, "risk": string(t.Risk), "annotations": map[string]any{
			"readOnlyHint": hint(t.Annotations.ReadOnlyHint, false), "destructiveHint": hint(t.Annotations.DestructiveHint, true),
			"idempotentHint": hint(t.Annotations.IdempotentHint, false), "openWorldHint": hint(t.Annotations.OpenWorldHint, true),
		}}
	}
	return input, nil
}

// tokenClaims decodes the JWT payload without verifying it (see the
// package comment).
func tokenClaims(authz string) (map[string]any, error) {
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		return nil, errors.New("no bearer token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("token payload is not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("token payload is not JSON")
	}
	return claims, nil
}

// header reads a request header from header_map (Envoy's
// encode_raw_headers, which our xDS configuration sets) or headers.
func header(h *authv3.AttributeContext_HttpRequest, name string) string {
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if hv.GetKey() == name {
			if rv := hv.GetRawValue(); len(rv) > 0 {
				return string(rv)
			}
			return hv.GetValue()
		}
	}
	return h.GetHeaders()[name]
}

func hint(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

func orEmpty(v any) any {
	if v == nil {
		return []any{}
	}
	return v
}

func orEmptyObject(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func allowed() *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}
}

func denied(reason string) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(codes.PermissionDenied), Message: reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
		}},
	}
}
