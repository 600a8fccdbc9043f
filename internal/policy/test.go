package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds one Rego test.
const testTimeout = 30 * time.Second

// TestResult is the outcome of one Rego test rule (test_*).
type TestResult struct {
	// Name is "<package>.<rule>", e.g. "data.actiongate.authz_test.test_small_trade_allowed".
	Name string
	// Location is "file:line" of the rule.
	Location string
	Passed   bool
	// Failure says why it did not pass: "failed", or the evaluation error.
	Failure  string
	Duration time.Duration
}

// Test runs the bundle's Rego unit tests (*_test.rego) against its modules
// and data, compiled as Compile does (Rego v1, strict, deterministic
// builtins only) with builtin errors raised. The error is for tests that
// could not run at all (a compile error); failing tests are results.
func (b *Bundle) Test(ctx context.Context) ([]TestResult, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(b.tests) == 0 {
		return nil, errors.New("policy: the bundle has no *_test.rego files")
	}
	parsed, err := parseModules(slices.Concat(b.modules, b.tests))
	if err != nil {
		return nil, err
	}
	modules := make(map[string]*ast.Module, len(parsed))
	for _, m := range parsed {
		modules[m.Package.Location.File] = m
	}
	store, err := dataStore(b.data)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().
		WithCapabilities(capabilities()).
		WithStrict(true).
		WithDefaultRegoVersion(ast.RegoV1)
	ch, err := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		RaiseBuiltinErrors(true).
		SetTimeout(testTimeout).
		SetDefaultRegoVersion(ast.RegoV1).
		Run(ctx, modules)
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		out = append(out, testResult(r))
	}
	slices.SortFunc(out, func(a, b TestResult) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func testResult(r *tester.Result) TestResult {
	tr := TestResult{
		Name:     r.Package + "." + r.Name,
		Passed:   r.Pass(),
		Duration: r.Duration,
	}
	if r.Location != nil {
		tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
	}
	switch {
	case r.Error != nil:
		tr.Failure = r.Error.Error()
	case r.Fail:
		tr.Failure = "failed"
		if r.FailedAt != nil {
			tr.Failure = "failed at " + r.FailedAt.String()
		}
	case r.Skip:
		tr.Failure = "skipped"
	}
	return tr
}
