package identity

import (
	"context"
	"log/slog"
	"testing"

	"github.com/actiongate/actiongate/internal/devidp"
)

// benchToken is a real delegated token from the dev IdP (ES256, ~500 bytes).
func benchToken(b *testing.B) (issuer, token string) {
	b.Helper()
	idp, err := devidp.Start(context.Background(), devidp.Options{
		Users:  []devidp.User{{Subject: "dr-alice", Tenant: "st-marys", Groups: []string{"physicians"}}},
		Agents: []devidp.Agent{{ClientID: "note-summarizer"}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(idp.Stop)
	tok, err := devidp.Token(context.Background(), idp.Issuer, "dr-alice", "note-summarizer", "", "")
	if err != nil {
		b.Fatal(err)
	}
	return idp.Issuer, tok
}

// BenchmarkVerify_CacheHit is the per-tool-call cost once a token has been
// seen: SHA-256 of the token, a read-locked map lookup, an expiry check.
func BenchmarkVerify_CacheHit(b *testing.B) {
	issuer, tok := benchToken(b)
	v := newVerifier(b, nil, issuer)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify_CacheHitParallel(b *testing.B) {
	issuer, tok := benchToken(b)
	v := newVerifier(b, nil, issuer)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerify_Miss is a full verification (cache disabled): decode,
// go-oidc signature check (ES256), claims and principal.
func BenchmarkVerify_Miss(b *testing.B) {
	issuer, tok := benchToken(b)
	v := newVerifier(b, func(c *Config) { c.CacheSize = -1 }, issuer)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
