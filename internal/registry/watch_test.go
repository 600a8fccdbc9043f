package registry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newTestWatcher(t *testing.T, dir string, opts WatchOptions) (*Watcher, *bytes.Buffer) {
	t.Helper()
	var logs syncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w, err := NewWatcher(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w, &logs.buf
}

// syncBuffer lets the watcher goroutine log while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func tenantName(t *testing.T, r *Registry) string {
	t.Helper()
	tn, ok := r.Tenant("acme")
	if !ok {
		t.Fatal("tenant acme missing")
	}
	return tn.Name
}

func TestWatcher_ValidChangeSwaps(t *testing.T) {
	t.Parallel()
	dir := fixtureDir(t, baseFixture())
	var got []*Registry
	w, _ := newTestWatcher(t, dir, WatchOptions{OnChange: func(r *Registry) { got = append(got, r) }})
	w.Subscribe(func(r *Registry) { got = append(got, r) })
	before := w.Current()

	if err := w.Reload(); err != nil || w.Current() != before || len(got) != 0 || w.Reloads() != 0 {
		t.Fatalf("reload without a change: err %v, swapped %v, notified %d, reloads %d", err, w.Current() != before, len(got), w.Reloads())
	}

	writeTree(t, dir, map[string]string{"tenants.yaml": strings.Replace(fixtureTenants, "Acme Corp", "Acme Inc", 1)})
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	cur := w.Current()
	if tenantName(t, cur) != "Acme Inc" || tenantName(t, before) != "Acme Corp" {
		t.Fatalf("not swapped, or the old registry was mutated: now %q, before %q", tenantName(t, cur), tenantName(t, before))
	}
	if cur.Version == before.Version {
		t.Error("version did not change")
	}
	if len(got) != 2 || got[0] != cur || got[1] != cur {
		t.Errorf("subscribers got %d calls, want 2 with the new registry", len(got))
	}
	if w.Reloads() != 1 || w.ReloadFailures() != 0 || w.LastError() != nil {
		t.Errorf("reloads %d failures %d last error %v", w.Reloads(), w.ReloadFailures(), w.LastError())
	}
}

func TestWatcher_InvalidChangeKeepsPrevious(t *testing.T) {
	t.Parallel()
	dir := fixtureDir(t, baseFixture())
	notified := 0
	w, logs := newTestWatcher(t, dir, WatchOptions{OnChange: func(*Registry) { notified++ }})
	good := w.Current()

	writeTree(t, dir, map[string]string{"servers/ehr.yaml": strings.Replace(fixtureServer, "risk: high", "risk: extreme", 1)})
	err := w.Reload()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Reload() = %v, want *LoadError", err)
	}
	if w.Current() != good || notified != 0 {
		t.Fatal("an invalid registry was swapped in or announced")
	}
	if w.ReloadFailures() != 1 || w.Reloads() != 0 {
		t.Errorf("failures %d reloads %d, want 1 and 0", w.ReloadFailures(), w.Reloads())
	}
	if w.LastError() == nil || !strings.Contains(w.LastError().Error(), "servers/ehr.yaml:17: spec.tools[1].risk") {
		t.Errorf("LastError() = %v", w.LastError())
	}
	if !strings.Contains(logs.String(), "registry reload failed") || !strings.Contains(logs.String(), good.Version.String()) {
		t.Errorf("failure not logged with the version still served:\n%s", logs)
	}

	writeTree(t, dir, map[string]string{"servers/ehr.yaml": strings.Replace(fixtureServer, "risk: high", "risk: critical", 1)})
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	s, _ := w.Current().Server("ehr")
	if tool, _ := s.Tool("write_summary"); tool.Risk != RiskCritical {
		t.Errorf("fixed registry not served: risk %q", tool.Risk)
	}
	if w.LastError() != nil || w.Reloads() != 1 || w.ReloadFailures() != 1 || notified != 1 {
		t.Errorf("after recovery: last error %v, reloads %d, failures %d, notified %d", w.LastError(), w.Reloads(), w.ReloadFailures(), notified)
	}
}

func TestNewWatcher_RefusesInvalidStart(t *testing.T) {
	t.Parallel()
	files := baseFixture()
	files["tenants.yaml"] = "kind: nope\n"
	if _, err := NewWatcher(fixtureDir(t, files), WatchOptions{}); err == nil {
		t.Fatal("NewWatcher started on an invalid registry")
	}
}

// TestWatcher_Run exercises the polling loop and, under -race, concurrent
// readers of Current while registries are swapped.
func TestWatcher_Run(t *testing.T) {
	t.Parallel()
	dir := fixtureDir(t, baseFixture())
	changes := make(chan *Registry, 16)
	w, _ := newTestWatcher(t, dir, WatchOptions{Interval: 5 * time.Millisecond, OnChange: func(r *Registry) { changes <- r }})

	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	stopReaders := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stopReaders:
					return
				default:
					if r := w.Current(); r == nil || len(r.Tenants) != 1 {
						t.Error("reader saw an incomplete registry")
						return
					}
				}
			}
		})
	}

	for i, name := range []string{"Acme Two", "Acme Three!"} {
		writeTree(t, dir, map[string]string{"tenants.yaml": strings.Replace(fixtureTenants, "Acme Corp", name, 1)})
		select {
		case r := <-changes:
			if got := tenantName(t, r); got != name {
				t.Errorf("change %d: got tenant %q, want %q", i, got, name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d not picked up by Run", i)
		}
	}
	close(stopReaders)
	readers.Wait()
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if w.Reloads() != 2 {
		t.Errorf("reloads = %d, want 2", w.Reloads())
	}
}

// TestWatcher_RunReportsBrokenDirectoryOnce: an unchanged broken directory
// is not reloaded (and counted) on every poll.
func TestWatcher_RunReportsBrokenDirectoryOnce(t *testing.T) {
	t.Parallel()
	dir := fixtureDir(t, baseFixture())
	w, _ := newTestWatcher(t, dir, WatchOptions{Interval: time.Hour, ResyncInterval: -1})
	if err := os.Remove(filepath.Join(dir, "tenants.yaml")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.poll()
	}
	if w.ReloadFailures() != 1 || w.LastError() == nil {
		t.Errorf("failures = %d, last error %v; want 1 and the dangling tenant", w.ReloadFailures(), w.LastError())
	}
	if len(w.Current().Tenants) != 1 {
		t.Error("previous registry not kept")
	}
}

func TestWatcher_Metrics(t *testing.T) {
	t.Parallel()
	dir := fixtureDir(t, baseFixture())
	reg := prometheus.NewRegistry()
	w, _ := newTestWatcher(t, dir, WatchOptions{Registerer: reg})
	if _, err := NewWatcher(dir, WatchOptions{Registerer: reg}); err == nil {
		t.Error("a second watcher registered the same metrics without error")
	}
	writeTree(t, dir, map[string]string{"tenants.yaml": "kind: nope\n"})
	_ = w.Reload()
	writeTree(t, dir, map[string]string{"tenants.yaml": strings.Replace(fixtureTenants, "Acme Corp", "Acme Inc", 1)})
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"actiongate_registry_reloads_total,result=ok":                      1,
		"actiongate_registry_reloads_total,result=error":                   1,
		"actiongate_registry_info,version=" + w.Current().Version.String(): 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected series (the old version must be gone): %v", got)
	}
}
