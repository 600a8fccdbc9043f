package policy

import (
	"errors"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/actiongate/actiongate/internal/decision"
)

// Result is a policy decision. Exactly one of three outcomes holds (see
// Outcome); any other shape is rejected by Evaluate.
type Result struct {
	// Allow: the call may run now.
	Allow bool
	// ApprovalRequired: the call may run once a signed approval bound to
	// exactly this call is presented.
	ApprovalRequired bool
	// Reasons are the policy's reason codes, in its order (the default
	// policy sorts them). Never empty unless Allow.
	Reasons []string
	// Obligations are what the gateway must do if the call proceeds
	// (JSON values: map[string]any, []any, string, json.Number, bool, nil).
	// nil when there are none.
	Obligations map[string]any
	// Revision is the bundle revision that decided.
	Revision string
}

// Outcome maps the result to the gateway's outcome.
func (r Result) Outcome() decision.Outcome {
	switch {
	case r.Allow:
		return decision.Allow
	case r.ApprovalRequired:
		return decision.ApprovalRequired
	default:
		return decision.Deny
	}
}

// The decision document's keys.
var (
	kAllow            = ast.StringTerm("allow")
	kApprovalRequired = ast.StringTerm("approval_required")
	kReasons          = ast.StringTerm("reasons")
	kObligations      = ast.StringTerm("obligations")
)

// decodeResult reads the decision object strictly: exactly the four keys,
// with their types, and a consistent outcome. A policy that misspells a key
// or returns a bare boolean gets an error, never a guess.
func decodeResult(rs rego.ResultSet) (Result, error) {
	if len(rs) == 0 {
		return Result{}, fmt.Errorf("%s is undefined for this input", Query)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Result{}, fmt.Errorf("%s has %d results; want exactly one", Query, len(rs))
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return Result{}, fmt.Errorf("%s: unexpected result type %T", Query, rs[0].Expressions[0].Value)
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return Result{}, fmt.Errorf("%s must be an object, got %s", Query, ast.ValueName(t.Value))
	}
	if obj.Len() != 4 {
		return Result{}, fmt.Errorf("%s must have exactly the keys allow, approval_required, reasons, obligations; got %d keys", Query, obj.Len())
	}
	var res Result
	var err error
	if res.Allow, err = boolField(obj, kAllow); err != nil {
		return Result{}, err
	}
	if res.ApprovalRequired, err = boolField(obj, kApprovalRequired); err != nil {
		return Result{}, err
	}
	if res.Reasons, err = reasonsField(obj.Get(kReasons)); err != nil {
		return Result{}, err
	}
	if res.Obligations, err = obligationsField(obj.Get(kObligations)); err != nil {
		return Result{}, err
	}
	if res.Allow && res.ApprovalRequired {
		return Result{}, fmt.Errorf("%s: allow and approval_required are both true", Query)
	}
	if !res.Allow && len(res.Reasons) == 0 {
		return Result{}, fmt.Errorf("%s: a decision that does not allow must give a reason", Query)
	}
	return res, nil
}

func boolField(obj ast.Object, key *ast.Term) (bool, error) {
	v := obj.Get(key)
	if v == nil {
		return false, fmt.Errorf("%s.%s is missing", Query, string(key.Value.(ast.String)))
	}
	b, ok := v.Value.(ast.Boolean)
	if !ok {
		return false, fmt.Errorf("%s.%s must be a boolean, got %s", Query, string(key.Value.(ast.String)), ast.ValueName(v.Value))
	}
	return bool(b), nil
}

// reasonsField accepts an array, or a set (which the default Rego idiom
// `reasons contains r if ...` produces), of non-empty strings. A set's
// order is Rego's canonical sort order, so results are deterministic.
func reasonsField(t *ast.Term) ([]string, error) {
	if t == nil {
		return nil, fmt.Errorf("%s.reasons is missing", Query)
	}
	var out []string
	add := func(e *ast.Term) error {
		s, ok := e.Value.(ast.String)
		if !ok || s == "" {
			return fmt.Errorf("%s.reasons must hold non-empty strings, got %s", Query, e)
		}
		out = append(out, string(s))
		return nil
	}
	switch v := t.Value.(type) {
	case *ast.Array:
		out = make([]string, 0, v.Len())
		for i := range v.Len() {
			if err := add(v.Elem(i)); err != nil {
				return nil, err
			}
		}
	case ast.Set:
		out = make([]string, 0, v.Len())
		if err := v.Sorted().Iter(add); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s.reasons must be an array of strings, got %s", Query, ast.ValueName(t.Value))
	}
	return slices.Clip(out), nil
}

func obligationsField(t *ast.Term) (map[string]any, error) {
	if t == nil {
		return nil, fmt.Errorf("%s.obligations is missing", Query)
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%s.obligations must be an object, got %s", Query, ast.ValueName(t.Value))
	}
	if obj.Len() == 0 {
		return nil, nil
	}
	v, err := ast.JSON(obj)
	if err != nil {
		return nil, fmt.Errorf("%s.obligations: %w", Query, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New(Query + ".obligations: object keys must be strings")
	}
	return m, nil
}
