package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Query is the one document ActionGate asks every bundle for.
const Query = "data.actiongate.authz.decision"

// queryRef is Query parsed, for the compile-time check that a bundle
// defines it at all.
var queryRef = ast.MustParseRef(Query)

// Engine is one compiled bundle revision. It is immutable and safe for
// concurrent use; build it off the request path (Compile), share it.
type Engine struct {
	revision string
	query    rego.PreparedEvalQuery
	bundle   *Bundle
}

// Revision is the bundle revision this engine evaluates.
func (e *Engine) Revision() string { return e.revision }

// Bundle is the bundle this engine was compiled from (what replay stores).
func (e *Engine) Bundle() *Bundle { return e.bundle }

// noMetrics avoids a metrics map per evaluation: we keep our own.
var noMetrics = metrics.NoOp()

// Compile parses and compiles b and prepares Query once. Compilation is
// strict (Rego v1, OPA strict mode, builtin errors raised at evaluation)
// and limited to deterministic builtins, so the same input and revision
// always give the same result; errors name file:line.
func Compile(ctx context.Context, b *Bundle) (*Engine, error) {
	if b == nil {
		return nil, errors.New("policy: no bundle")
	}
	if b.err != nil {
		return nil, b.err
	}
	modules, err := parseModules(b.modules)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", b.revision, err)
	}
	if !definesDecision(modules) {
		return nil, fmt.Errorf("policy %s: no module defines %s", b.revision, Query)
	}
	store, err := dataStore(b.data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", b.revision, err)
	}
	opts := []func(*rego.Rego){
		rego.Query(Query),
		rego.SetRegoVersion(ast.RegoV1),
		rego.Strict(true),
		rego.StrictBuiltinErrors(true),
		rego.Capabilities(capabilities()),
		rego.Store(store),
		rego.GenerateJSON(keepAST),
	}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", b.revision, err)
	}
	return &Engine{revision: b.revision, query: pq, bundle: b}, nil
}

func parseModules(files []sourceFile) ([]*ast.Module, error) {
	var errs ast.Errors
	out := make([]*ast.Module, 0, len(files))
	for _, f := range files {
		m, err := ast.ParseModuleWithOpts(f.path, string(f.data), ast.ParserOptions{
			RegoVersion: ast.RegoV1, ProcessAnnotation: true,
		})
		if err != nil {
			var perrs ast.Errors
			if errors.As(err, &perrs) {
				errs = append(errs, perrs...)
				continue
			}
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		out = append(out, m)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// definesDecision reports whether some rule produces Query or a part of it
// (decision := {...}, or decision.allow := ... with ref heads).
func definesDecision(modules []*ast.Module) bool {
	for _, m := range modules {
		for _, r := range m.Rules {
			if r.Module != nil && r.Path().HasPrefix(queryRef) {
				return true
			}
		}
	}
	return false
}

// capabilities are this OPA's builtins minus the nondeterministic ones
// (http.send, rand.*, uuid.*, net.lookup_ip_addr, opa.runtime, signing with
// fresh randomness). time.now_ns stays: Evaluate pins it to Input.Time.
// A policy that reaches the network or the host could not be replayed.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool {
		return b.Nondeterministic && b.Name != ast.NowNanos.Name
	})
	c.AllowNet = []string{}
	return c
}

// dataStore holds the bundle's data as AST, converted once per engine, so
// evaluations do not convert it on every read.
func dataStore(data map[string]any) (storage.Store, error) {
	v, err := ast.InterfaceToValue(data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, errors.New("data: not an object")
	}
	return inmem.NewFromASTObject(obj), nil
}

// keepAST hands result values back as AST: decodeResult reads the decision
// object directly instead of converting it to map[string]any first.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// Evaluate decides one input. Every failure is an error, and the caller
// denies: an evaluation error, an undefined decision, a decision of the
// wrong shape, or a context that ended before the answer was ready.
func (e *Engine) Evaluate(ctx context.Context, in Input) (Result, error) {
	doc, err := in.Document()
	if err != nil {
		return Result{}, err
	}
	return e.eval(ctx, doc, in.Time)
}

// EvaluateDocument decides a recorded input document (Input.JSON), for
// replay: the time inside it is also the policy's clock.
func (e *Engine) EvaluateDocument(ctx context.Context, doc []byte) (Result, error) {
	v, err := jsonToAST(doc)
	if err != nil {
		return Result{}, fmt.Errorf("policy input document: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return Result{}, errors.New("policy input document: not a JSON object")
	}
	var ts ast.String
	if t := obj.Get(kTime); t != nil {
		ts, ok = t.Value.(ast.String)
	}
	if !ok {
		return Result{}, errors.New("policy input document: time must be a string")
	}
	now, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Result{}, fmt.Errorf("policy input document: time: %w", err)
	}
	return e.eval(ctx, obj, now)
}

func (e *Engine) eval(ctx context.Context, doc ast.Value, now time.Time) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("policy %s: not evaluated: %w", e.revision, err)
	}
	// Cancellation through context.AfterFunc rather than rego's default of
	// one goroutine per evaluation.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	rs, err := e.query.Eval(ctx,
		rego.EvalParsedInput(doc),
		rego.EvalTime(now),
		rego.EvalExternalCancel(cancel),
		rego.EvalMetrics(noMetrics),
	)
	stop()
	if err != nil {
		return Result{}, fmt.Errorf("policy %s: evaluation failed: %w", e.revision, err)
	}
	// A decision that arrives after the caller's deadline is not one.
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("policy %s: evaluation finished after the deadline: %w", e.revision, err)
	}
	res, err := decodeResult(rs)
	if err != nil {
		return Result{}, fmt.Errorf("policy %s: %w", e.revision, err)
	}
	res.Revision = e.revision
	return res, nil
}
