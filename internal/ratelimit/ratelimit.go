// Package ratelimit holds token buckets per tenant, user, agent, server and
// tool in Redis, so every gateway replica draws from the same buckets. One
// Lua script checks and takes from all of a call's buckets atomically: a
// call either consumes a token from each or from none.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/actiongate/actiongate/internal/principal"
)

// Rate is a bucket: PerMinute tokens refill per minute, Burst at most
// (default PerMinute). Zero PerMinute means no limit.
type Rate struct {
	PerMinute int `yaml:"perMinute"`
	Burst     int `yaml:"burst"`
}

// Config are the limits; a scope with a zero rate is unlimited. Tools
// overrides the Tool rate for "<server>/<tool>".
type Config struct {
	Tenant, User, Agent, Server, Tool Rate
	Tools                             map[string]Rate
	// FailOpen lets calls through when Redis cannot be reached. The
	// default (false) denies them: a limit that silently stops limiting
	// is the failure a limit exists to prevent.
	FailOpen bool
}

// Result of one Allow.
type Result struct {
	Allowed    bool
	RetryAfter time.Duration // when denied: until the emptiest bucket has a token
	Scope      string        // when denied: which bucket ("user", "tool", …)
	Degraded   bool          // allowed only because Redis was unreachable and FailOpen is set
}

// Limiter is safe for concurrent use; share one per process.
type Limiter struct {
	rdb *redis.Client
	cfg Config
}

// New returns a limiter on the Redis at addr.
func New(addr string, cfg Config) *Limiter {
	return &Limiter{rdb: redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second,
		ReadTimeout: 250 * time.Millisecond, WriteTimeout: 250 * time.Millisecond, MaxRetries: 1}), cfg: cfg}
}

// Close releases the connection pool.
func (l *Limiter) Close() error { return l.rdb.Close() }

// bucket is one scope's key and rate for a call.
type bucket struct {
	scope string
	key   string
	rate  Rate
}

// buckets lists the limited scopes of a call.
func (l *Limiter) buckets(p principal.Principal, server, tool string) []bucket {
	toolRate := l.cfg.Tool
	if r, ok := l.cfg.Tools[server+"/"+tool]; ok {
		toolRate = r
	}
	all := []bucket{
		{"tenant", "ag:rl:tenant:" + p.Tenant, l.cfg.Tenant},
		{"user", "ag:rl:user:" + p.Tenant + "/" + p.User, l.cfg.User},
		{"agent", "ag:rl:agent:" + p.Agent, l.cfg.Agent},
		{"server", "ag:rl:server:" + server, l.cfg.Server},
		{"tool", "ag:rl:tool:" + server + "/" + tool, toolRate},
	}
	out := all[:0]
	for _, b := range all {
		if b.rate.PerMinute > 0 {
			out = append(out, b)
		}
	}
	return out
}

// Allow takes one token from every bucket of the call, or none.
func (l *Limiter) Allow(ctx context.Context, p principal.Principal, server, tool string) (Result, error) {
	bs := l.buckets(p, server, tool)
	if len(bs) == 0 {
		return Result{Allowed: true}, nil
	}
	keys := make([]string, len(bs))
	args := make([]any, 0, 2*len(bs))
	for i, b := range bs {
		keys[i] = b.key
		burst := b.rate.Burst
		if burst <= 0 {
			burst = b.rate.PerMinute
		}
		args = append(args, float64(b.rate.PerMinute)/60000.0, burst) // tokens per millisecond
	}
	res, err := takeScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err != nil {
		if l.cfg.FailOpen {
			return Result{Allowed: true, Degraded: true}, nil
		}
		return Result{}, fmt.Errorf("rate limit store: %w", err)
	}
	if len(res) != 3 {
		return Result{}, errors.New("rate limit store: unexpected reply")
	}
	if res[0] == 1 {
		return Result{Allowed: true}, nil
	}
	return Result{RetryAfter: time.Duration(res[1]) * time.Millisecond, Scope: bs[res[2]-1].scope}, nil
}

// takeScript refills each bucket by elapsed time (Redis' own clock, so
// replicas' clocks do not matter), then takes one token from each only if
// every bucket has one; otherwise it reports the longest wait.
var takeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local toks = {}
local worst, worstIdx = 0, 0
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  local v = redis.call('HMGET', KEYS[i], 'tk', 'ts')
  local tk, ts = tonumber(v[1]) or burst, tonumber(v[2]) or now
  tk = math.min(burst, tk + math.max(0, now - ts) * rate)
  toks[i] = tk
  if tk < 1 then
    local wait = math.ceil((1 - tk) / rate)
    if wait > worst then worst, worstIdx = wait, i end
  end
end
if worstIdx > 0 then return {0, worst, worstIdx} end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  redis.call('HSET', KEYS[i], 'tk', tostring(toks[i] - 1), 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate) + 1000)
end
return {1, 0, 0}
`)
