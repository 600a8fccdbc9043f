package policy

import (
	"context"
	"sync"
)

// DefaultKeepRevisions is how many compiled revisions a Cache keeps.
const DefaultKeepRevisions = 8

// Cache keeps recently used engines by revision, so replay of a recent
// decision does not recompile, and a flip back to a previous revision is
// free. Revisions are content hashes, so an entry can never be stale.
// The zero value is not usable; use NewCache.
type Cache struct {
	mu    sync.Mutex
	limit int
	// order is least recently used first; small enough that a slice beats
	// a linked list.
	order   []string
	engines map[string]*Engine
}

// NewCache returns a cache of at most limit engines (DefaultKeepRevisions
// when limit <= 0).
func NewCache(limit int) *Cache {
	if limit <= 0 {
		limit = DefaultKeepRevisions
	}
	return &Cache{limit: limit, engines: make(map[string]*Engine, limit)}
}

// Get returns the engine of revision, if cached, and marks it used.
func (c *Cache) Get(revision string) (*Engine, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.engines[revision]
	if ok {
		c.touch(revision)
	}
	return e, ok
}

// Add caches e, evicting the least recently used engine when full.
func (c *Cache) Add(e *Engine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.engines[e.revision]; ok {
		c.touch(e.revision)
		return
	}
	if len(c.order) >= c.limit {
		delete(c.engines, c.order[0])
		c.order = c.order[1:]
	}
	c.engines[e.revision] = e
	c.order = append(c.order, e.revision)
}

// Compile returns the cached engine of b's revision or compiles and caches
// it. Concurrent calls for the same new revision may both compile; the
// results are interchangeable.
func (c *Cache) Compile(ctx context.Context, b *Bundle) (*Engine, error) {
	if b != nil && b.err == nil {
		if e, ok := c.Get(b.revision); ok {
			return e, nil
		}
	}
	e, err := Compile(ctx, b)
	if err != nil {
		return nil, err
	}
	c.Add(e)
	return e, nil
}

// Revisions lists the cached revisions, least recently used first.
func (c *Cache) Revisions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

func (c *Cache) touch(revision string) {
	for i, r := range c.order {
		if r == revision {
			c.order = append(append(c.order[:i:i], c.order[i+1:]...), revision)
			return
		}
	}
}
