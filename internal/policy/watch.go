package policy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/actiongate/actiongate/internal/reloadmetrics"
)

// DefaultInterval is how often a Watcher reads its bundle directory.
const DefaultInterval = 2 * time.Second

// compileTimeout bounds one reload's compilation.
const compileTimeout = 30 * time.Second

// WatchOptions configures a Watcher. The zero value is usable.
type WatchOptions struct {
	// Interval between reads of the directory. A policy bundle is a few
	// small files, so each poll reads and hashes them all: nothing (mtime,
	// git) can hide a change. Default DefaultInterval.
	Interval time.Duration
	// KeepRevisions is how many compiled revisions EngineFor can return
	// without recompiling. Default DefaultKeepRevisions.
	KeepRevisions int
	// Logger receives reload results. Default slog.Default().
	Logger *slog.Logger
	// Registerer, if set, receives actiongate_policy_reloads_total and
	// actiongate_policy_info. Nothing is registered globally.
	Registerer prometheus.Registerer
	// OnChange, if set, is called in the reloading goroutine with each new
	// engine after it is swapped in.
	OnChange func(*Engine)
}

// Watcher serves the compiled policy of a bundle directory and replaces it
// when the directory holds a new revision that compiles. A change that does
// not load or compile is logged and counted, and the previous engine keeps
// serving: a broken commit must neither take the gateway down nor open it up.
type Watcher struct {
	dir     string
	opts    WatchOptions
	log     *slog.Logger
	metrics *reloadmetrics.Metrics
	cache   *Cache

	current  atomic.Pointer[Engine]
	lastErr  atomic.Pointer[error]
	reloads  atomic.Uint64
	failures atomic.Uint64

	// mu serialises reloads; failed identifies the last failure (see fail),
	// so a persistent one is reported once, not on every poll.
	mu     sync.Mutex
	failed string
}

// NewWatcher loads and compiles dir once and fails if that fails, so a
// gateway never starts without a policy. Call Run to keep it current.
func NewWatcher(ctx context.Context, dir string, opts WatchOptions) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	w := &Watcher{dir: dir, opts: opts, log: opts.Logger, cache: NewCache(opts.KeepRevisions)}
	if w.log == nil {
		w.log = slog.Default()
	}
	b, err := LoadBundle(dir)
	if err != nil {
		return nil, err
	}
	e, err := w.cache.Compile(ctx, b)
	if err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		if w.metrics, err = reloadmetrics.New(opts.Registerer, "policy", "revision", "revision"); err != nil {
			return nil, fmt.Errorf("policy metrics: %w", err)
		}
		w.metrics.Serving(e.revision)
	}
	w.current.Store(e)
	return w, nil
}

// Current returns the engine being served. It never blocks and never
// returns nil.
func (w *Watcher) Current() *Engine { return w.current.Load() }

// EngineFor returns the engine of a recently served revision (the current
// one included), for replay and for decisions pinned to a revision.
func (w *Watcher) EngineFor(revision string) (*Engine, bool) {
	if e := w.current.Load(); e.revision == revision {
		return e, true
	}
	return w.cache.Get(revision)
}

// Reloads counts new revisions swapped in since NewWatcher.
func (w *Watcher) Reloads() uint64 { return w.reloads.Load() }

// ReloadFailures counts reloads that failed and left the previous engine.
func (w *Watcher) ReloadFailures() uint64 { return w.failures.Load() }

// LastError is the error of the most recent reload, or nil.
func (w *Watcher) LastError() error {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Run reloads every Interval until ctx ends, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = w.reload(ctx, false) // counted, logged and kept in LastError
		}
	}
}

// Reload reads the directory now and swaps in its revision if it is new
// and compiles. It returns the error, if any; the previous engine is then
// still served.
func (w *Watcher) Reload(ctx context.Context) error { return w.reload(ctx, true) }

func (w *Watcher) reload(ctx context.Context, force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.current.Load()
	b, err := LoadBundle(w.dir)
	if err != nil {
		return w.fail(prev, "load: "+err.Error(), "", err, force)
	}
	if b.revision == prev.revision {
		w.failed = ""
		w.lastErr.Store(nil)
		return nil
	}
	if b.revision == w.failed && !force {
		return w.LastError()
	}
	cctx, cancel := context.WithTimeout(ctx, compileTimeout)
	e, err := w.cache.Compile(cctx, b)
	cancel()
	if err != nil {
		return w.fail(prev, b.revision, b.revision, err, force)
	}
	w.failed = ""
	w.lastErr.Store(nil)
	w.current.Store(e)
	w.reloads.Add(1)
	w.metrics.Result("ok")
	w.metrics.Serving(e.revision)
	w.log.Info("policy reloaded", "dir", w.dir, "revision", e.revision, "previous", prev.revision)
	if w.opts.OnChange != nil {
		w.opts.OnChange(e)
	}
	return nil
}

// fail records a failed reload. key identifies the failure (the rejected
// revision, or the load error) so that polling reports a persistent problem
// once; an explicit Reload always reports.
func (w *Watcher) fail(prev *Engine, key, revision string, err error, force bool) error {
	if key == w.failed && !force {
		return err
	}
	w.failed = key
	w.failures.Add(1)
	w.lastErr.Store(&err)
	w.metrics.Result("error")
	w.log.Error("policy reload failed; still serving the previous revision",
		"dir", w.dir, "serving", prev.revision, "rejected", revision, "error", err)
	return err
}
