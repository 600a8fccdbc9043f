package authzmodel

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

// DefaultCheckCacheTTL bounds how long a SpiceDB answer is reused. It is
// well inside the staleness checks already accept with MinimizeLatency
// (SpiceDB's revision quantization, 5 s by default), and any write this
// client makes or is told of (Sync, ObserveZedToken) drops every entry.
const DefaultCheckCacheTTL = time.Second

// maxCacheEntries bounds memory; reaching it starts a new generation.
const maxCacheEntries = 100_000

// checkCache (nil: no cache) holds definite answers (allowed / no permission) per
// principal and tool for a short time, so a burst of calls by one agent
// for one user costs one SpiceDB round trip, not one each.
type checkCache struct {
	ttl time.Duration
	gen atomic.Pointer[cacheGen]
}

type cacheGen struct {
	m    sync.Map // key → cachedResult
	size atomic.Int64
}

type cachedResult struct {
	r       Result
	expires time.Time
}

func newCheckCache(ttl time.Duration) *checkCache {
	c := &checkCache{ttl: ttl}
	c.reset()
	return c
}

// reset drops every entry (after a write, a new consistency floor).
func (c *checkCache) reset() {
	if c != nil {
		c.gen.Store(&cacheGen{})
	}
}

func (c *checkCache) get(key string, now time.Time) (Result, bool) {
	if c == nil || c.ttl <= 0 {
		return Result{}, false
	}
	v, ok := c.gen.Load().m.Load(key)
	if !ok {
		return Result{}, false
	}
	e := v.(cachedResult)
	if now.After(e.expires) {
		return Result{}, false
	}
	return e.r, true
}

func (c *checkCache) put(key string, r Result, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	g := c.gen.Load()
	if g.size.Add(1) > maxCacheEntries {
		c.reset()
		g = c.gen.Load()
	}
	g.m.Store(key, cachedResult{r: r, expires: now.Add(c.ttl)})
}

// cacheKey names everything the answer depends on. NUL cannot occur in the
// escaped object ids nor in claim strings we accept.
func cacheKey(p principal.Principal, server, tool string) string {
	var b strings.Builder
	n := len(p.User) + len(p.Agent) + len(p.Tenant) + len(server) + len(tool) + 5
	for _, g := range p.Groups {
		n += len(g) + 1
	}
	b.Grow(n)
	for _, s := range [...]string{p.User, p.Agent, p.Tenant, server, tool} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, g := range p.Groups {
		b.WriteString(g)
		b.WriteByte(0)
	}
	return b.String()
}
