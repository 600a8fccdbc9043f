package ratelimit

import (
	"context"
	"testing"

	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/principal"
)

func startRedis(t *testing.T) string {
	t.Helper()
	_, err := devenv.FindRedis()
	devenv.RequireDep(t, "redis-server", err)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := devenv.StartRedis(ctx, 0)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(); cancel() })
	return r.Addr
}

var bob = principal.Principal{User: "trader-bob", Agent: "trade-executor", Tenant: "northwind"}

// TestLimiter_SharedAcrossReplicas: two limiters (two gateway replicas) on
// one Redis draw from the same bucket, and an exhausted bucket says which
// scope and how long to wait.
func TestLimiter_SharedAcrossReplicas(t *testing.T) {
	addr := startRedis(t)
	cfg := Config{User: Rate{PerMinute: 600}, Tools: map[string]Rate{"trading/place_trade": {PerMinute: 3}}}
	a, b := New(addr, cfg), New(addr, cfg)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	for i, l := range []*Limiter{a, b, a} {
		if r, err := l.Allow(ctx, bob, "trading", "place_trade"); err != nil || !r.Allowed {
			t.Fatalf("call %d: %+v %v", i, r, err)
		}
	}
	r, err := b.Allow(ctx, bob, "trading", "place_trade")
	if err != nil || r.Allowed || r.Scope != "tool" || r.RetryAfter <= 0 || r.RetryAfter > 20_000_000_000 {
		t.Fatalf("4th call across replicas: %+v %v; want denied by the tool bucket with a retry-after ≤ 20s", r, err)
	}
	// All-or-nothing: the denied call took no token from the user bucket,
	// and another tool is unaffected.
	if r, err := a.Allow(ctx, bob, "trading", "get_quote"); err != nil || !r.Allowed {
		t.Fatalf("another tool: %+v %v", r, err)
	}
}

func TestLimiter_RedisDown(t *testing.T) {
	closed := New("127.0.0.1:1", Config{User: Rate{PerMinute: 1}})
	defer closed.Close()
	if _, err := closed.Allow(context.Background(), bob, "trading", "get_quote"); err == nil {
		t.Fatal("with Redis unreachable and fail-closed, Allow must return an error (the caller denies)")
	}
	open := New("127.0.0.1:1", Config{User: Rate{PerMinute: 1}, FailOpen: true})
	defer open.Close()
	if r, err := open.Allow(context.Background(), bob, "trading", "get_quote"); err != nil || !r.Allowed || !r.Degraded {
		t.Fatalf("fail-open: %+v %v", r, err)
	}
}

func TestLimiter_Unlimited(t *testing.T) {
	l := New("127.0.0.1:1", Config{}) // never contacted: no limits configured
	defer l.Close()
	if r, err := l.Allow(context.Background(), bob, "trading", "get_quote"); err != nil || !r.Allowed {
		t.Fatalf("%+v %v", r, err)
	}
}
