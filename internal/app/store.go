package app

import (
	"fmt"
	"github.com/actiongate/actiongate/internal/policy"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/registry"
)

// openStore opens the content store replay reads (audit.storeDir) and
// keeps every registry version in it; nil when none is configured.
func (a *App) openStore() error {
	dir := a.cfg.Audit.StoreDir
	if dir == "" || a.cfg.Audit.Disabled {
		return nil
	}
	st, err := contentstore.Open(dir, contentstore.Options{})
	if err != nil {
		return fmt.Errorf("audit.storeDir: %w", err)
	}
	a.store = st
	if a.Watcher != nil {
		if _, err := st.RecordRegistry(a.Watcher.Current()); err != nil {
			return fmt.Errorf("audit.storeDir: registry: %w", err)
		}
		a.Watcher.Subscribe(func(r *registry.Registry) {
			if _, err := st.RecordRegistry(r); err != nil {
				a.log.Error("content store: registry version not kept; its decisions cannot be cross-checked on replay",
					"version", r.Version.String(), "error", err)
			}
		})
	}
	return nil
}

// recordPolicy keeps the bundle of a policy revision for replay.
func (a *App) recordPolicy(e *policy.Engine) {
	if a.store == nil {
		return
	}
	if err := a.store.RecordBundle(e.Bundle()); err != nil {
		a.log.Error("content store: policy revision not kept; its decisions cannot be replayed", "revision", e.Revision(), "error", err)
	}
}

// asyncInputs records decision inputs off the decision path: the address
// (the hash the event carries) is computed in line, the file is written by
// one background writer. Creating a file costs about a millisecond on
// this class of disk, which the decision must not wait for; an input lost
// to a crash in that window makes its decision unreplayable (replay says
// so), never unaudited.
type asyncInputs struct {
	store   *contentstore.Store
	queue   chan []byte
	dropped prometheus.Counter
	// seen caches, for the current second, the address of each input key
	// already rendered: an agent repeating a call (the policy memo's hit
	// path) must not pay for rendering and hashing the document again.
	seen atomic.Pointer[inputGen]
}

type inputGen struct {
	second int64
	addrs  sync.Map // policy.Input.Key() → address
	size   atomic.Int64
}

// maxSeenInputs bounds one second's cache, like the policy memo.
const maxSeenInputs = 10_000

func newAsyncInputs(st *contentstore.Store, depth int, reg prometheus.Registerer) *asyncInputs {
	ai := &asyncInputs{store: st, queue: make(chan []byte, depth),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "actiongate_replay_inputs_dropped_total",
			Help: "Decision inputs not kept for replay (writer queue full or write failed)."})}
	ai.seen.Store(&inputGen{})
	if reg != nil {
		_ = reg.Register(ai.dropped)
	}
	return ai
}

// RecordInput returns the input's address and queues its document for
// writing, once per distinct input and second.
func (ai *asyncInputs) RecordInput(in *policy.Input) (string, error) {
	sec := in.Time.Unix()
	g := ai.seen.Load()
	if g.second != sec {
		ng := &inputGen{second: sec}
		if !ai.seen.CompareAndSwap(g, ng) {
			ng = ai.seen.Load()
		}
		g = ng
	}
	key := in.Key()
	if g.second == sec {
		if addr, ok := g.addrs.Load(key); ok {
			return addr.(string), nil
		}
	}
	doc, err := in.JSON()
	if err != nil {
		return "", err
	}
	addr, err := contentstore.InputAddress(doc)
	if err != nil {
		return "", err
	}
	select {
	case ai.queue <- doc:
		if g.second == sec && g.size.Add(1) <= maxSeenInputs {
			g.addrs.Store(key, addr)
		}
	default:
		ai.dropped.Inc()
	}
	return addr, nil
}

// run writes queued inputs until the queue is closed.
func (ai *asyncInputs) run() {
	for doc := range ai.queue {
		if _, err := ai.store.RecordInput(doc); err != nil {
			ai.dropped.Inc()
		}
	}
}
