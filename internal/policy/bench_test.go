package policy

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// BenchmarkEvaluate is the hot path: build the input document from the
// typed Input and evaluate the default policy, for a read-only call and
// for a trade within limits (the busiest rule set).
func BenchmarkEvaluate(b *testing.B) {
	e := mustDefaultEngine(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		in   Input
	}{
		{"quote", callInput(b, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})},
		{"trade", benchInput(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := e.Evaluate(ctx, bc.in)
				if err != nil || !res.Allow {
					b.Fatalf("Evaluate = %+v, %v", res, err)
				}
			}
		})
	}
}

// BenchmarkEvaluateMinimalPolicy is the floor: a policy that is one
// constant, so what remains is building the input, OPA's per-evaluation
// setup and reading the result.
func BenchmarkEvaluateMinimalPolicy(b *testing.B) {
	bundle, err := LoadBundle(writeBundle(b, map[string]string{"p.rego": minimalPolicy("v")}))
	if err != nil {
		b.Fatal(err)
	}
	e, err := Compile(context.Background(), bundle)
	if err != nil {
		b.Fatal(err)
	}
	in := benchInput(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Evaluate(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateParallel shows contention on a shared Engine.
func BenchmarkEvaluateParallel(b *testing.B) {
	e := mustDefaultEngine(b)
	in := benchInput(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Evaluate(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDocument is the input-building share of Evaluate.
func BenchmarkDocument(b *testing.B) {
	in := benchInput(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Document(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateMapInput is the alternative we did not take: the same
// document as map[string]any (arguments decoded with encoding/json), handed
// to rego as a raw input that it converts itself, with rego's default
// result conversion.
func BenchmarkEvaluateMapInput(b *testing.B) {
	e := mustDefaultEngine(b)
	in := benchInput(b)
	doc, err := in.JSON()
	if err != nil {
		b.Fatal(err)
	}
	var shape map[string]any
	if err := json.Unmarshal(doc, &shape); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var args map[string]any
		if err := json.Unmarshal(in.Call.Arguments, &args); err != nil {
			b.Fatal(err)
		}
		m := mapInput(shape, args)
		rs, err := e.query.Eval(ctx, rego.EvalInput(m), rego.EvalTime(in.Time),
			rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return ast.JSON(t.Value) }))
		if err != nil || len(rs) != 1 {
			b.Fatalf("Eval = %v, %v", rs, err)
		}
	}
}

// mapInput rebuilds the document as fresh maps, as an adapter would per call.
func mapInput(shape map[string]any, args map[string]any) map[string]any {
	p := shape["principal"].(map[string]any)
	a := shape["agent"].(map[string]any)
	s := shape["server"].(map[string]any)
	t := shape["tool"].(map[string]any)
	an := t["annotations"].(map[string]any)
	return map[string]any{
		"principal": map[string]any{"user": p["user"], "agent": p["agent"], "tenant": p["tenant"], "task": p["task"],
			"groups": []any{"staff"}, "chain": []any{map[string]any{"sub": "trade-executor", "iss": "https://idp.example"}}},
		"agent":  map[string]any{"id": a["id"], "tier": 2, "owner": a["owner"]},
		"server": map[string]any{"id": s["id"], "classification": s["classification"]},
		"tool": map[string]any{"name": t["name"], "risk": t["risk"], "annotations": map[string]any{
			"readOnlyHint": an["readOnlyHint"], "destructiveHint": an["destructiveHint"],
			"idempotentHint": an["idempotentHint"], "openWorldHint": an["openWorldHint"]}},
		"call":             map[string]any{"method": "tools/call", "arguments": args},
		"time":             shape["time"],
		"registry_version": shape["registry_version"],
	}
}

func benchInput(b testing.TB) Input {
	return callInput(b, "trade-executor", "trader-bob", "trading", "place_trade",
		map[string]any{"symbol": "ACME", "side": "buy", "quantity": 10, "account": "ACC-7"})
}
