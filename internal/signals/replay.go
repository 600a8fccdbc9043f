package signals

import (
	"sync"
	"time"
)

// replayCache remembers the jti of every SET accepted (or being processed)
// until the SET would be refused as too old anyway, so each jti is acted on
// once. It is bounded: when full it first drops expired entries, and if
// none has expired it refuses new SETs (503, the transmitter retries)
// rather than forget a jti that could then be replayed.
type replayCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]time.Time // jti → when it may be forgotten
}

type reserveResult int

const (
	reserved reserveResult = iota
	replayed
	cacheFull
)

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, entries: make(map[string]time.Time)}
}

// reserve records jti until forgetAt unless it is already recorded.
func (c *replayCache) reserve(jti string, forgetAt, now time.Time) reserveResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.entries[jti]; ok {
		if now.Before(until) {
			return replayed
		}
		delete(c.entries, jti)
	}
	if len(c.entries) >= c.max {
		for k, until := range c.entries {
			if !now.Before(until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			return cacheFull
		}
	}
	c.entries[jti] = forgetAt
	return reserved
}

// release forgets jti, so a SET whose revocation failed is accepted when
// the transmitter retries it.
func (c *replayCache) release(jti string) {
	c.mu.Lock()
	delete(c.entries, jti)
	c.mu.Unlock()
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
