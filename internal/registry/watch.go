package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/actiongate/actiongate/internal/reloadmetrics"
)

// Defaults for WatchOptions.
const (
	DefaultInterval       = 2 * time.Second
	DefaultResyncInterval = time.Minute
)

// WatchOptions configures a Watcher. The zero value is usable.
type WatchOptions struct {
	// Interval between cheap checks of the directory (paths, sizes and
	// modification times). Default DefaultInterval.
	Interval time.Duration
	// ResyncInterval forces a full load even when the cheap check sees no
	// change, which catches a git commit of unchanged files and edits that
	// keep size and modification time. Default DefaultResyncInterval;
	// negative disables it.
	ResyncInterval time.Duration
	// Logger receives reload results. Default slog.Default().
	Logger *slog.Logger
	// OnChange, if set, is subscribed first (see Watcher.Subscribe).
	OnChange func(*Registry)
	// Registerer, if set, receives actiongate_registry_reloads_total and
	// actiongate_registry_info. Nothing is registered globally.
	Registerer prometheus.Registerer
}

// Watcher serves the current registry of a directory and replaces it when
// the directory changes to another valid registry. An invalid change is
// logged and counted, and the previous registry keeps being served: a
// broken commit must not take the gateway down or open it up.
type Watcher struct {
	dir     string
	opts    WatchOptions
	log     *slog.Logger
	metrics *reloadmetrics.Metrics

	current  atomic.Pointer[Registry]
	lastErr  atomic.Pointer[error]
	reloads  atomic.Uint64
	failures atomic.Uint64

	// mu serialises reloads, so swaps and notifications happen in order.
	mu          sync.Mutex
	fingerprint string
	lastFull    time.Time

	subMu sync.Mutex
	subs  []func(*Registry)
}

// NewWatcher loads dir once; it fails if that load fails, so a gateway never
// starts without a registry. Call Run to keep it current.
func NewWatcher(dir string, opts WatchOptions) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	w := &Watcher{dir: dir, opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.Default()
	}
	// Fingerprint first: a change racing the load is then seen by the next poll.
	fp := fingerprint(dir)
	reg, err := Load(dir)
	if err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		if w.metrics, err = reloadmetrics.New(opts.Registerer, "registry", "version", "version"); err != nil {
			return nil, fmt.Errorf("registry metrics: %w", err)
		}
		w.metrics.Serving(reg.Version.String())
	}
	w.current.Store(reg)
	w.fingerprint, w.lastFull = fp, time.Now()
	if opts.OnChange != nil {
		w.subs = append(w.subs, opts.OnChange)
	}
	return w, nil
}

// Current returns the registry being served. It never blocks and never
// returns nil.
func (w *Watcher) Current() *Registry { return w.current.Load() }

// Subscribe registers f to be called, in the reloading goroutine and in
// registration order, with each new registry after it is swapped in.
// Subscribe before reading Current so that no change falls in between.
// Reloads wait for subscribers, which must not call Reload themselves.
func (w *Watcher) Subscribe(f func(*Registry)) {
	w.subMu.Lock()
	defer w.subMu.Unlock()
	w.subs = append(w.subs, f)
}

// Reloads counts new registry versions swapped in since NewWatcher.
func (w *Watcher) Reloads() uint64 { return w.reloads.Load() }

// ReloadFailures counts loads that failed and left the previous version in place.
func (w *Watcher) ReloadFailures() uint64 { return w.failures.Load() }

// LastError is the error of the most recent load, or nil if it succeeded.
func (w *Watcher) LastError() error {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Run polls the directory every Interval until ctx ends, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.poll()
		}
	}
}

// Reload loads the directory now, whatever the fingerprint says, and swaps
// if it holds a new valid version. It returns the load error, if any; the
// previous registry is then still served.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reloadLocked(fingerprint(w.dir))
}

func (w *Watcher) poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	fp := fingerprint(w.dir)
	resync := w.opts.ResyncInterval > 0 && time.Since(w.lastFull) >= w.opts.ResyncInterval
	if fp == w.fingerprint && !resync {
		return
	}
	_ = w.reloadLocked(fp) // counted, logged and kept in LastError
}

func (w *Watcher) reloadLocked(fp string) error {
	w.fingerprint, w.lastFull = fp, time.Now()
	prev := w.current.Load()
	reg, err := Load(w.dir)
	if err != nil {
		w.failures.Add(1)
		w.lastErr.Store(&err)
		w.metrics.Result("error")
		w.log.Error("registry reload failed; still serving the previous version",
			"dir", w.dir, "serving", prev.Version.String(), "error", err)
		return err
	}
	w.lastErr.Store(nil)
	if reg.Version == prev.Version {
		return nil
	}
	w.current.Store(reg)
	w.reloads.Add(1)
	w.metrics.Result("ok")
	w.metrics.Serving(reg.Version.String())
	w.log.Info("registry reloaded", "dir", w.dir, "version", reg.Version.String(), "previous", prev.Version.String(),
		"servers", len(reg.Servers), "agents", len(reg.Agents), "tenants", len(reg.Tenants))
	w.subMu.Lock()
	subs := slices.Clone(w.subs)
	w.subMu.Unlock()
	for _, f := range subs {
		f(reg)
	}
	return nil
}

// fingerprint is a cheap summary of the directory (paths, sizes, modes,
// modification times) that changes whenever a full load might give a
// different answer. A listing error is part of the fingerprint, so a
// persistent error is reported once, not on every poll.
func fingerprint(dir string) string {
	entries, err := listFiles(dir)
	if err != nil {
		return "error: " + err.Error()
	}
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%d:%s %d %d %d\n", len(e.rel), e.rel, e.info.Size(), e.info.ModTime().UnixNano(), e.info.Mode())
	}
	return hex.EncodeToString(h.Sum(nil))
}
