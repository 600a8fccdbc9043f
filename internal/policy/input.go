package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// Input is what a policy decides on. Every field comes from something the
// gateway verified (token, registry) except Call.Arguments, which is the
// agent's request and exactly what policy exists to judge. The document the
// policy sees is specified field by field in docs/policy.md; Document
// builds it.
type Input struct {
	Principal principal.Principal
	// Agent, Server and Tool are the registry entries involved. A nil one
	// is left out of the document (input.agent etc. are then undefined),
	// which the default policy treats as a denial for tools/call.
	Agent  *registry.Agent
	Server *registry.Server
	Tool   *registry.Tool
	Call   Call
	// Time is the decision time: input.time, and also what time.now_ns()
	// returns inside the policy, so that replay with the recorded time
	// reaches the same result. Required.
	Time            time.Time
	RegistryVersion string
}

// Call is the MCP request.
type Call struct {
	Method string
	// Arguments is the tools/call arguments object as the agent sent it
	// (already checked by internal/mcp). nil means {}.
	Arguments json.RawMessage
}

// Keys of the input document, built once: terms are immutable and shared by
// every evaluation.
var (
	kPrincipal       = ast.StringTerm("principal")
	kAgent           = ast.StringTerm("agent")
	kServer          = ast.StringTerm("server")
	kTool            = ast.StringTerm("tool")
	kCall            = ast.StringTerm("call")
	kTime            = ast.StringTerm("time")
	kRegistryVersion = ast.StringTerm("registry_version")
	kUser            = ast.StringTerm("user")
	kTenant          = ast.StringTerm("tenant")
	kTask            = ast.StringTerm("task")
	kGroups          = ast.StringTerm("groups")
	kChain           = ast.StringTerm("chain")
	kSub             = ast.StringTerm("sub")
	kIss             = ast.StringTerm("iss")
	kID              = ast.StringTerm("id")
	kTier            = ast.StringTerm("tier")
	kOwner           = ast.StringTerm("owner")
	kClassification  = ast.StringTerm("classification")
	kName            = ast.StringTerm("name")
	kRisk            = ast.StringTerm("risk")
	kAnnotations     = ast.StringTerm("annotations")
	kReadOnly        = ast.StringTerm("readOnlyHint")
	kDestructive     = ast.StringTerm("destructiveHint")
	kIdempotent      = ast.StringTerm("idempotentHint")
	kOpenWorld       = ast.StringTerm("openWorldHint")
	kMethod          = ast.StringTerm("method")
	kArguments       = ast.StringTerm("arguments")
)

// Document builds the input document as Rego AST, without a JSON round
// trip. It fails when Time is zero or Arguments is not one JSON object.
func (in Input) Document() (ast.Object, error) {
	if in.Time.IsZero() {
		return nil, errors.New("policy input: time is required")
	}
	args, err := argumentsValue(in.Call.Arguments)
	if err != nil {
		return nil, err
	}
	items := make([][2]*ast.Term, 0, 7)
	items = append(items,
		[2]*ast.Term{kPrincipal, ast.NewTerm(principalValue(&in.Principal))},
		[2]*ast.Term{kCall, ast.ObjectTerm(
			[2]*ast.Term{kMethod, ast.StringTerm(in.Call.Method)},
			[2]*ast.Term{kArguments, ast.NewTerm(args)},
		)},
		[2]*ast.Term{kTime, ast.StringTerm(in.Time.UTC().Format(time.RFC3339Nano))},
		[2]*ast.Term{kRegistryVersion, ast.StringTerm(in.RegistryVersion)},
	)
	if a := in.Agent; a != nil {
		items = append(items, [2]*ast.Term{kAgent, ast.ObjectTerm(
			[2]*ast.Term{kID, ast.StringTerm(a.ID)},
			[2]*ast.Term{kTier, ast.InternedTerm(int(a.Tier))},
			[2]*ast.Term{kOwner, ast.StringTerm(a.Owner)},
		)})
	}
	if s := in.Server; s != nil {
		items = append(items, [2]*ast.Term{kServer, ast.ObjectTerm(
			[2]*ast.Term{kID, ast.StringTerm(s.ID)},
			[2]*ast.Term{kClassification, ast.StringTerm(string(s.Classification))},
		)})
	}
	if t := in.Tool; t != nil {
		items = append(items, [2]*ast.Term{kTool, ast.NewTerm(toolValue(t))})
	}
	return ast.NewObject(items...), nil
}

// JSON is the input document as JSON, for audit records; replay feeds it to
// Engine.EvaluateDocument.
func (in Input) JSON() ([]byte, error) {
	doc, err := in.Document()
	if err != nil {
		return nil, err
	}
	v, err := ast.JSON(doc)
	if err != nil {
		return nil, fmt.Errorf("policy input: %w", err)
	}
	return json.Marshal(v)
}

func argumentsValue(raw json.RawMessage) (ast.Value, error) {
	if len(raw) == 0 {
		return ast.NewObject(), nil
	}
	v, err := jsonToAST(raw)
	if err != nil {
		return nil, fmt.Errorf("policy input: call.arguments: %w", err)
	}
	if _, ok := v.(ast.Object); !ok {
		return nil, errors.New("policy input: call.arguments must be a JSON object")
	}
	return v, nil
}

func principalValue(p *principal.Principal) ast.Object {
	groups := make([]*ast.Term, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = ast.StringTerm(g)
	}
	chain := make([]*ast.Term, len(p.Chain))
	for i, a := range p.Chain {
		chain[i] = ast.ObjectTerm(
			[2]*ast.Term{kSub, ast.StringTerm(a.Subject)},
			[2]*ast.Term{kIss, ast.StringTerm(a.Issuer)},
		)
	}
	return ast.NewObject(
		[2]*ast.Term{kIss, ast.StringTerm(p.Issuer)},
		[2]*ast.Term{kUser, ast.StringTerm(p.User)},
		[2]*ast.Term{kAgent, ast.StringTerm(p.Agent)},
		[2]*ast.Term{kTenant, ast.StringTerm(p.Tenant)},
		[2]*ast.Term{kTask, ast.StringTerm(p.Task)},
		[2]*ast.Term{kGroups, ast.ArrayTerm(groups...)},
		[2]*ast.Term{kChain, ast.ArrayTerm(chain...)},
	)
}

// toolValue fills absent annotation hints with MCP's defaults (readOnly
// false, destructive true, idempotent false, openWorld true): the most
// cautious reading, and the one a policy author expects from the spec.
func toolValue(t *registry.Tool) ast.Object {
	a := t.Annotations
	return ast.NewObject(
		[2]*ast.Term{kName, ast.StringTerm(t.Name)},
		[2]*ast.Term{kRisk, ast.StringTerm(string(t.Risk))},
		[2]*ast.Term{kAnnotations, ast.ObjectTerm(
			[2]*ast.Term{kReadOnly, ast.InternedTerm(hint(a.ReadOnlyHint, false))},
			[2]*ast.Term{kDestructive, ast.InternedTerm(hint(a.DestructiveHint, true))},
			[2]*ast.Term{kIdempotent, ast.InternedTerm(hint(a.IdempotentHint, false))},
			[2]*ast.Term{kOpenWorld, ast.InternedTerm(hint(a.OpenWorldHint, true))},
		)},
	)
}

func hint(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
