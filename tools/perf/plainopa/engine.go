package main

import (
	"context"
	"fmt"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
)

// checkEngine is -mode engine: the same request, token handling and
// response as the maps mode, but the body parsed by internal/mcp and the
// policy evaluated by internal/policy (typed input built as Rego AST, one
// prepared engine). The difference between the two rows is the evaluation
// strategy alone.
func (s *server) checkEngine(ctx context.Context, req *authv3.CheckRequest) *authv3.CheckResponse {
	in, err := s.engineInput(req)
	if err != nil {
		return denied(err.Error())
	}
	res, err := s.engine.Evaluate(ctx, in)
	if err != nil {
		return denied("policy evaluation failed")
	}
	if !res.Allow {
		return denied(fmt.Sprint(res.Reasons))
	}
	return allowed()
}

func (s *server) engineInput(req *authv3.CheckRequest) (policy.Input, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	msg, err := mcp.Parse(h.GetRawBody(), 1<<20)
	if err != nil {
		return policy.Input{}, err
	}
	claims, err := tokenClaims(header(h, "authorization"))
	if err != nil {
		return policy.Input{}, err
	}
	srv, ok := s.reg.Server(req.GetAttributes().GetContextExtensions()["server_id"])
	if !ok {
		return policy.Input{}, fmt.Errorf("unknown server")
	}
	sub, _ := claims["sub"].(string)
	azp, _ := claims["azp"].(string)
	tenant, _ := claims["tenant"].(string)
	in := policy.Input{
		Principal:       principal.Principal{User: sub, Agent: azp, Tenant: tenant, Task: header(h, "x-actiongate-task")},
		Server:          srv,
		Call:            policy.Call{Method: msg.Method, Arguments: msg.Arguments},
		Time:            time.Now(),
		RegistryVersion: s.reg.Version.String(),
	}
	if a, ok := s.reg.Agent(azp); ok {
		in.Agent = a
	}
	if t, ok := srv.Tool(msg.ToolName); ok {
		in.Tool = t
	}
	return in, nil
}
