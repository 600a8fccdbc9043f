package policy

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWatcher_KeepsOldEngineOnBadChangeAndSwapsOnGood(t *testing.T) {
	t.Parallel()
	dir := writeBundle(t, map[string]string{"p.rego": minimalPolicy("v1")})
	reg := prometheus.NewPedanticRegistry()
	changed := make(chan string, 4)
	w, err := NewWatcher(context.Background(), dir, WatchOptions{
		Logger:     quietLogger(),
		Registerer: reg,
		OnChange:   func(e *Engine) { changed <- e.Revision() },
	})
	if err != nil {
		t.Fatal(err)
	}
	v1 := w.Current()
	assertReason(t, w.Current(), "v1")

	writeFile(t, filepath.Join(dir, "p.rego"), "package actiongate.authz\n\ndecision := 1 ]\n")
	err = w.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "p.rego:3") {
		t.Fatalf("Reload of a broken bundle: err = %v, want a parse error at p.rego:3", err)
	}
	if w.Current() != v1 || w.ReloadFailures() != 1 || w.LastError() == nil {
		t.Fatalf("after a bad change: current %s (want %s), failures %d", w.Current().Revision(), v1.Revision(), w.ReloadFailures())
	}
	assertReason(t, w.Current(), "v1")

	writeFile(t, filepath.Join(dir, "p.rego"), minimalPolicy("v2"))
	if err := w.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertReason(t, w.Current(), "v2")
	if w.Reloads() != 1 || w.LastError() != nil {
		t.Errorf("reloads %d, last error %v", w.Reloads(), w.LastError())
	}
	if got := <-changed; got != w.Current().Revision() {
		t.Errorf("OnChange got %s, want %s", got, w.Current().Revision())
	}
	// The previous revision stays available for replay.
	if e, ok := w.EngineFor(v1.Revision()); !ok || e != v1 {
		t.Errorf("EngineFor(v1) = %v, %v", e, ok)
	}
	if _, ok := w.EngineFor("sha256:unknown"); ok {
		t.Error("EngineFor(unknown) found an engine")
	}
	want := `
# HELP actiongate_policy_reloads_total Reloads of the policy: result=ok when a new revision was swapped in, result=error when loading failed and the previous one was kept.
# TYPE actiongate_policy_reloads_total counter
actiongate_policy_reloads_total{result="error"} 1
actiongate_policy_reloads_total{result="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "actiongate_policy_reloads_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "actiongate_policy_info"); err != nil || n != 1 {
		t.Errorf("actiongate_policy_info series = %d, %v", n, err)
	}
}

func TestWatcher_RunPicksUpChanges(t *testing.T) {
	t.Parallel()
	dir := writeBundle(t, map[string]string{"p.rego": minimalPolicy("v1")})
	w, err := NewWatcher(context.Background(), dir, WatchOptions{Interval: 10 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// A persistent broken revision is counted once, not on every poll.
	writeFile(t, filepath.Join(dir, "p.rego"), "package actiongate.authz\n\nbroken :=\n")
	waitFor(t, func() bool { return w.ReloadFailures() == 1 })
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := w.ReloadFailures(); n != 1 {
			t.Fatalf("failures = %d after more polls, want 1", n)
		}
		time.Sleep(5 * time.Millisecond) // observing that nothing changes, not waiting for readiness
	}
	writeFile(t, filepath.Join(dir, "p.rego"), minimalPolicy("v3"))
	waitFor(t, func() bool { return w.Reloads() == 1 })
	assertReason(t, w.Current(), "v3")
}

func TestNewWatcher_FailsWithoutAValidPolicy(t *testing.T) {
	t.Parallel()
	dir := writeBundle(t, map[string]string{"p.rego": "package actiongate.authz\n\ndecision := \n"})
	if _, err := NewWatcher(context.Background(), dir, WatchOptions{Logger: quietLogger()}); err == nil {
		t.Fatal("NewWatcher started with a policy that does not compile")
	}
}

func TestCache_EvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := NewCache(2)
	engines := make([]*Engine, 3)
	for i, v := range []string{"a", "b", "c"} {
		b, err := LoadBundle(writeBundle(t, map[string]string{"p.rego": minimalPolicy(v)}))
		if err != nil {
			t.Fatal(err)
		}
		if engines[i], err = c.Compile(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			c.Get(engines[0].Revision()) // a is now more recent than b
		}
	}
	want := []string{engines[0].Revision(), engines[2].Revision()}
	if got := c.Revisions(); !slices.Equal(got, want) {
		t.Errorf("Revisions = %v, want %v (b evicted)", got, want)
	}
}

func assertReason(t *testing.T, e *Engine, want string) {
	t.Helper()
	in := callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})
	res, err := e.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Reasons, []string{want}) {
		t.Errorf("reasons = %v, want [%s]", res.Reasons, want)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
