package extauthz

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/registry"
)

// Policy is a compiled OPA policy of one revision (*policy.Engine).
type Policy interface {
	Revision() string
	Evaluate(ctx context.Context, in policy.Input) (policy.Result, error)
}

type policyFacts struct {
	agent  *registry.Agent
	server *registry.Server
	tool   *registry.Tool
	msg    *mcp.Message
}

// evaluatePolicy is the last step: the policy revision is recorded in the
// decision whatever it answers, and any evaluation error denies.
func evaluatePolicy(ctx context.Context, d decision.Decision, in Input, f policyFacts, pol Policy, id json.RawMessage) Result {
	if pol == nil {
		return deny(d, decision.ReasonInternal, "no policy loaded", id)
	}
	d.PolicyRevision = pol.Revision()
	pin := &policy.Input{
		Principal: d.Principal, Agent: f.agent, Server: f.server, Tool: f.tool,
		Call:            policy.Call{Method: f.msg.Method, Arguments: f.msg.Arguments},
		Time:            in.Now,
		RegistryVersion: d.RegistryVersion,
	}
	r := evaluated(ctx, d, pin, pol, id)
	r.PolicyInput = pin
	return r
}

func evaluated(ctx context.Context, d decision.Decision, pin *policy.Input, pol Policy, id json.RawMessage) Result {
	res, err := pol.Evaluate(ctx, *pin)
	if err != nil {
		return deny(d, decision.ReasonInternal, "the policy could not be evaluated", id)
	}
	d.PolicyReasons, d.Obligations = res.Reasons, res.Obligations
	switch {
	case res.Allow:
		return allow(d, id)
	case res.ApprovalRequired:
		r := deny(d, decision.ReasonApprovalRequired, strings.Join(res.Reasons, ", "), id)
		r.Decision.Outcome = decision.ApprovalRequired
		return r
	}
	return deny(d, decision.ReasonPolicyDenied, strings.Join(res.Reasons, ", "), id)
}
