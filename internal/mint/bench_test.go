package mint

import (
	"context"
	"testing"
)

// BenchmarkMint is the per-tool-call cost on the gateway: validate the
// grant, build and encode the claims, one ES256 signature.
func BenchmarkMint(b *testing.B) {
	clk := newTestClock()
	m := newTestMinter(b, newTestRing(b, b.TempDir(), clk, nil), clk, NewRevocations())
	g := testGrant()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Mint(g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintParallel(b *testing.B) {
	clk := newTestClock()
	m := newTestMinter(b, newTestRing(b, b.TempDir(), clk, nil), clk, NewRevocations())
	g := testGrant()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Mint(g); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerify is the upstream's cost per request with keys cached:
// header checks, one ES256 verification, claims decoding and checks.
func BenchmarkVerify(b *testing.B) {
	clk := newTestClock()
	ring := newTestRing(b, b.TempDir(), clk, nil)
	m := newTestMinter(b, ring, clk, nil)
	v := newRemoteVerifier(b, newJWKSServer(b, ring).URL, clk, nil)
	tok := mustMint(b, m, testGrant())
	scope := Scope("ehr", "read_chart")
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok.Raw, scope); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(tok.Raw)))
	for b.Loop() {
		if _, err := v.Verify(ctx, tok.Raw, scope); err != nil {
			b.Fatal(err)
		}
	}
}
