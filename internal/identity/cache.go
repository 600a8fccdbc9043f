package identity

import (
	"sync"
	"sync/atomic"

	"github.com/actiongate/actiongate/internal/principal"
)

// tokenCache maps SHA-256(raw token) to the principal a full verification
// derived, until the token's exp. The hit path is a read lock, a map lookup
// and an atomic load; eviction (when a shard is full) samples a few entries
// and drops an expired one, else one not used since the last sweep (second
// chance, as in CLOCK), so hot tokens stay without an LRU list to lock.
type tokenCache struct {
	shards []cacheShard
	mask   uint8
	// gen changes on every Invalidate; a verification that started before
	// it does not insert its result (it may have been invalidated).
	gen atomic.Uint64
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[[32]byte]*cacheEntry
	limit int
}

type cacheEntry struct {
	p   principal.Principal
	exp int64 // unix nanos: the token's exp
	ref atomic.Bool
}

// evictSample is how many entries an insert into a full shard looks at.
const evictSample = 8

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := 1
	if size >= 1024 {
		n = 16
	}
	c := &tokenCache{shards: make([]cacheShard, n), mask: uint8(n - 1)}
	per := (size + n - 1) / n
	for i := range c.shards {
		c.shards[i] = cacheShard{m: make(map[[32]byte]*cacheEntry), limit: per}
	}
	return c
}

func (c *tokenCache) shard(key *[32]byte) *cacheShard {
	return &c.shards[key[0]&c.mask]
}

// get returns the live entry for key; an expired one is dropped.
func (c *tokenCache) get(key *[32]byte, now int64) (*cacheEntry, bool) {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[*key]
	s.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	if now >= e.exp {
		s.mu.Lock()
		if s.m[*key] == e {
			delete(s.m, *key)
		}
		s.mu.Unlock()
		return nil, false
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return e, true
}

// put stores p under key unless it is already expired or an Invalidate ran
// since gen was read.
func (c *tokenCache) put(key *[32]byte, p principal.Principal, exp, now int64, gen uint64) {
	if exp <= now {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if _, ok := s.m[*key]; !ok && len(s.m) >= s.limit {
		s.evict(now)
	}
	s.m[*key] = &cacheEntry{p: p, exp: exp}
}

// evict removes one entry; the caller holds the write lock.
func (s *cacheShard) evict(now int64) {
	var victim, last [32]byte
	found, seen := false, 0
	for k, e := range s.m {
		if now >= e.exp {
			delete(s.m, k)
			return
		}
		if !found && !e.ref.Load() {
			victim, found = k, true
		}
		e.ref.Store(false)
		last = k
		if seen++; seen >= evictSample {
			break
		}
	}
	if !found {
		victim = last
	}
	delete(s.m, victim)
}

// invalidate drops every entry match selects.
func (c *tokenCache) invalidate(match func(principal.Principal) bool) int {
	c.gen.Add(1)
	removed := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if match(e.p) {
				delete(s.m, k)
				removed++
			}
		}
		s.mu.Unlock()
	}
	return removed
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
