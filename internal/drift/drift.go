// Package drift remembers which definition each upstream MCP server last
// advertised for each of its registered tools, so that every gateway
// replica can refuse calls to a tool whose definition no longer matches its
// registry pin (a "rug pull": the server changed a description or schema
// after the tool was reviewed).
//
// ext_proc is where the definitions are seen (in tools/list results) and
// ext_authz is where calls are decided, often in other processes, so the
// observations live in a Store both reach: Redis when the gateway has one
// (the same server that holds rate-limit buckets), else process memory,
// which is only correct when both services run in one process.
//
// ext_authz reads a local View that a background loop refreshes from the
// Store: the decision path never waits on the network, and a View that has
// not refreshed within its staleness bound fails closed.
package drift

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStale: the View could not refresh from the Store for longer than its
// bound, so it cannot say whether a tool drifted. Deciders deny.
var ErrStale = errors.New("tool definition observations are stale")

// Observations maps "server/tool" to the hash of the definition the server
// last advertised.
type Observations map[string]string

func key(server, tool string) string { return server + "/" + tool }

// Store is where observations are shared between replicas.
type Store interface {
	// Observe records what server advertised, tool name → definition hash.
	Observe(ctx context.Context, server string, hashes map[string]string) error
	// Load returns every observation.
	Load(ctx context.Context) (Observations, error)
}

// Memory is a Store in this process.
type Memory struct {
	mu  sync.Mutex
	obs Observations
}

// NewMemory returns an empty in-process Store.
func NewMemory() *Memory { return &Memory{obs: Observations{}} }

func (m *Memory) Observe(_ context.Context, server string, hashes map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tool, h := range hashes {
		m.obs[key(server, tool)] = h
	}
	return nil
}

func (m *Memory) Load(context.Context) (Observations, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.obs), nil
}

// View is a replica's local copy of the observations.
type View struct {
	store    Store
	interval time.Duration
	maxStale time.Duration
	now      func() time.Time

	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	obs Observations
	at  time.Time
}

// ViewOptions configure a View.
type ViewOptions struct {
	// Interval between refreshes (default 250 ms): the longest a drift seen
	// by another replica can go unenforced here.
	Interval time.Duration
	// MaxStale is how long the View answers from an old copy while the
	// Store is unreachable before it fails closed (default 5 s).
	MaxStale time.Duration
	Now      func() time.Time
}

// NewView returns a View over store. Call Run to keep it fresh, or Refresh
// by hand.
func NewView(store Store, o ViewOptions) *View {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.MaxStale <= 0 {
		o.MaxStale = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &View{store: store, interval: o.Interval, maxStale: o.MaxStale, now: o.Now}
}

// Refresh loads the observations now.
func (v *View) Refresh(ctx context.Context) error {
	obs, err := v.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("loading tool definition observations: %w", err)
	}
	v.snap.Store(&snapshot{obs: obs, at: v.now()})
	return nil
}

// Run refreshes every Interval until ctx ends, reporting failures to
// onError (which may be nil).
func (v *View) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(v.interval)
	defer t.Stop()
	for {
		if err := v.Refresh(ctx); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Advertised returns the hash server last advertised for tool, and whether
// it was ever seen. It fails with ErrStale when the copy is too old.
func (v *View) Advertised(server, tool string) (string, bool, error) {
	s := v.snap.Load()
	if s == nil || v.now().Sub(s.at) > v.maxStale {
		return "", false, ErrStale
	}
	h, ok := s.obs[key(server, tool)]
	return h, ok, nil
}

// Check compares what server advertised for tool with its pin. It returns
// the advertised hash when it differs (a drift), "" when it matches or was
// never observed: a tool nobody listed yet is judged by its pin alone.
func Check(v interface {
	Advertised(server, tool string) (string, bool, error)
}, server, tool, pin string) (string, error) {
	h, ok, err := v.Advertised(server, tool)
	if err != nil || !ok || h == pin {
		return "", err
	}
	return h, nil
}
