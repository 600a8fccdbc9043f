package drift

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/actiongate/actiongate/internal/devenv"
)

const (
	pinA = "sha256:aaaa"
	pinB = "sha256:bbbb"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	v := NewView(m, ViewOptions{})
	if _, err := Check(v, "mail", "send_email", pinA); !errors.Is(err, ErrStale) {
		t.Fatalf("never refreshed: err %v, want ErrStale", err)
	}
	must(t, m.Observe(ctx, "mail", map[string]string{"send_email": pinA, "read_inbox": pinB}))
	must(t, v.Refresh(ctx))
	tests := []struct {
		server, tool, pin string
		drifted           string
	}{
		{"mail", "send_email", pinA, ""},           // advertised as pinned
		{"mail", "read_inbox", pinA, pinB},         // advertised something else
		{"mail", "archive", pinA, ""},              // never listed: judged by its pin
		{"trading", "send_email", pinA, ""},        // same tool name, other server
		{"mail", "send_email", "sha256:new", pinA}, // registry re-pinned, upstream still old
	}
	for _, tc := range tests {
		got, err := Check(v, tc.server, tc.tool, tc.pin)
		if err != nil || got != tc.drifted {
			t.Errorf("Check(%s/%s, %s) = %q, %v; want %q", tc.server, tc.tool, tc.pin, got, err, tc.drifted)
		}
	}
}

func TestView_FailsClosedWhenStale(t *testing.T) {
	now := time.Unix(1000, 0)
	v := NewView(NewMemory(), ViewOptions{MaxStale: time.Second, Now: func() time.Time { return now }})
	must(t, v.Refresh(context.Background()))
	if _, err := Check(v, "s", "t", pinA); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if _, err := Check(v, "s", "t", pinA); !errors.Is(err, ErrStale) {
		t.Fatalf("err %v, want ErrStale", err)
	}
}

// TestRedis_SharedBetweenReplicas: what one replica's ext_proc observes,
// another replica's View sees after a refresh; a later observation of the
// pinned definition lifts the drift.
func TestRedis_SharedBetweenReplicas(t *testing.T) {
	_, err := devenv.FindRedis()
	devenv.RequireDep(t, "redis-server", err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := devenv.StartRedis(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	c1 := redis.NewClient(&redis.Options{Addr: r.Addr})
	c2 := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c1.Close()
	defer c2.Close()
	writer, reader := NewRedis(c1), NewView(NewRedis(c2), ViewOptions{})

	must(t, writer.Observe(ctx, "mail", map[string]string{"send_email": pinB}))
	must(t, reader.Refresh(ctx))
	if got, err := Check(reader, "mail", "send_email", pinA); err != nil || got != pinB {
		t.Fatalf("drift not shared: %q %v", got, err)
	}
	must(t, writer.Observe(ctx, "mail", map[string]string{"send_email": pinA}))
	must(t, reader.Refresh(ctx))
	if got, err := Check(reader, "mail", "send_email", pinA); err != nil || got != "" {
		t.Fatalf("drift not lifted: %q %v", got, err)
	}

	r.Stop()
	if err := reader.Refresh(ctx); err == nil {
		t.Fatal("refresh from a stopped redis succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
