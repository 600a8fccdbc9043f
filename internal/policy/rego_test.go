package policy

import (
	"context"
	"strings"
	"testing"
)

// TestRegoUnitTests runs policy/actiongate/*_test.rego, so `go test ./...`
// covers the shipped policy's own tests.
func TestRegoUnitTests(t *testing.T) {
	t.Parallel()
	results, err := EmbeddedDefault().Test(context.Background())
	if err != nil {
		t.Fatalf("running Rego tests: %v", err)
	}
	if len(results) < 10 {
		t.Fatalf("only %d Rego tests ran", len(results))
	}
	for _, r := range results {
		t.Run(strings.TrimPrefix(r.Name, "data.actiongate.authz_test."), func(t *testing.T) {
			if !r.Passed {
				t.Errorf("%s (%s): %s", r.Name, r.Location, r.Failure)
			}
		})
	}
}

// A failing Rego test must surface as a failed result, not vanish.
func TestBundle_TestReportsFailures(t *testing.T) {
	t.Parallel()
	b, err := LoadBundle(writeBundle(t, map[string]string{
		"p.rego": minimalPolicy("v"),
		"p_test.rego": `package actiongate.authz_test

import data.actiongate.authz

test_passes if authz.decision.allow

test_fails if not authz.decision.allow

test_errors if to_number("x") > 0
`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	results, err := b.Test(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]TestResult{}
	for _, r := range results {
		got[strings.TrimPrefix(r.Name, "data.actiongate.authz_test.")] = r
	}
	if len(got) != 3 || !got["test_passes"].Passed || got["test_fails"].Passed || got["test_errors"].Passed {
		t.Fatalf("results = %+v", results)
	}
	if !strings.HasPrefix(got["test_fails"].Location, "p_test.rego:") || got["test_errors"].Failure == "" {
		t.Errorf("results lack location or failure: %+v", results)
	}
}
