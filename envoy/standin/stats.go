package standin

import (
	"maps"
	"sync"
)

// Stats is a point-in-time copy of the stand-in's counters. Type keys are
// "CDS", "LDS" and "RDS".
type Stats struct {
	ACKs           map[string]uint64
	NACKs          map[string]uint64
	LastNACKError  string
	AppliedVersion map[string]string

	Requests       uint64
	LocalReplies   map[int]uint64 // by HTTP status
	StreamResets   uint64
	ExtAuthzChecks uint64
	ExtProcStreams uint64
	// Unimplemented counts ext_proc/ext_authz responses that used a feature
	// the stand-in does not implement; each one failed the request loudly.
	Unimplemented uint64
}

type statsCounters struct {
	mu sync.Mutex
	s  Stats
}

func newStatsCounters() *statsCounters {
	return &statsCounters{s: Stats{
		ACKs:           map[string]uint64{},
		NACKs:          map[string]uint64{},
		AppliedVersion: map[string]string{},
		LocalReplies:   map[int]uint64{},
	}}
}

func (c *statsCounters) update(f func(s *Stats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.s)
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	c := p.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.s
	out.ACKs = maps.Clone(c.s.ACKs)
	out.NACKs = maps.Clone(c.s.NACKs)
	out.AppliedVersion = maps.Clone(c.s.AppliedVersion)
	out.LocalReplies = maps.Clone(c.s.LocalReplies)
	return out
}
