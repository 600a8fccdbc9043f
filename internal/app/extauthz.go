package app

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/actiongate/actiongate/authzmodel"
	"github.com/actiongate/actiongate/extauthz"
	"github.com/actiongate/actiongate/internal/drift"
	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/ratelimit"
	"github.com/actiongate/actiongate/internal/registry"
)

// startExtAuthz builds everything a decision needs before serving: token
// verifiers (discovery and keys fetched now), the SpiceDB client (schema
// ensured, relationships synced), the compiled policy.
func (a *App) startExtAuthz(ctx context.Context) error {
	cfg := a.cfg
	issuers := make([]identity.IssuerConfig, 0, len(cfg.Identity.Issuers))
	for _, u := range cfg.Identity.Issuers {
		issuers = append(issuers, identity.IssuerConfig{URL: u})
	}
	verifier, err := identity.New(ctx, identity.Config{Issuers: issuers, Audiences: cfg.Identity.Audiences,
		Leeway: cfg.Identity.ClockSkew, TenantClaim: cfg.Identity.TenantClaim, TaskClaim: cfg.Identity.TaskClaim, GroupsClaim: cfg.Identity.GroupsClaim,
		Logger: a.log.With("component", "identity")})
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	authz, err := a.startAuthz(ctx)
	if err != nil {
		return err
	}
	a.verifier, a.authz = verifier, authz
	a.live.Lock()
	a.live.verifier, a.live.authz = verifier, authz
	a.live.Unlock()
	pol, err := a.startPolicy(ctx)
	if err != nil {
		return err
	}
	schemas := &extauthz.SchemaCache{}
	if err := schemas.Update(a.Watcher.Current()); err != nil {
		return fmt.Errorf("tool input schemas: %w", err)
	}
	a.Watcher.Subscribe(func(r *registry.Registry) {
		if err := schemas.Update(r); err != nil {
			a.log.Error("tool input schemas: some did not compile; calls to those tools are denied", "error", err)
		}
	})
	var limits extauthz.Limiter
	if rl := cfg.RateLimits; rl.Redis != "" {
		l := ratelimit.New(rl.Redis, ratelimit.Config{Tenant: rl.Tenant, User: rl.User, Agent: rl.Agent,
			Server: rl.Server, Tool: rl.Tool, Tools: rl.Tools, FailOpen: rl.FailOpen})
		a.closers = append(a.closers, func() { _ = l.Close() })
		limits = l
	}
	view := drift.NewView(a.toolDrift(), drift.ViewOptions{})
	if err := view.Refresh(ctx); err != nil {
		return fmt.Errorf("tool definition observations: %w", err)
	}
	a.goRun(func() error {
		view.Run(ctx, func(err error) { a.log.Warn("tool definition observations did not refresh", "error", err) })
		return nil
	})
	auditOpts := extauthz.AuditOptions{RecordArguments: cfg.Audit.RecordArguments, ReadOnlyContinue: cfg.Audit.ReadOnlyContinue}
	if a.spool != nil {
		auditOpts.Recorder = a.spool
	}
	if a.store != nil {
		ai := newAsyncInputs(a.store, 4096, a.metrics)
		go ai.run()
		a.closers = append(a.closers, func() { close(ai.queue) })
		auditOpts.Inputs = ai
	}
	s := extauthz.New(extauthz.Options{Limits: limits, Drift: view, Audit: auditOpts, Tracer: a.tracer, Revoked: a.revState,
		Registry: a.Watcher.Current, Policy: pol, Auth: verifier, Authz: checker{authz}, Schemas: schemas,
		Metadata: a.metadataOptions(), MaxBodyBytes: cfg.MaxRequestBytes,
		Logger: a.log.With("component", "extauthz"), Metrics: a.metrics,
	})
	return a.serveGRPC(ServiceExtAuthz, cfg.ExtAuthz.Listen, s.Register)
}

func (a *App) startAuthz(ctx context.Context) (*authzmodel.Client, error) {
	sc := a.cfg.SpiceDB
	key := sc.PresharedKey
	if key == "" && sc.PresharedKeyEnv != "" {
		key = os.Getenv(sc.PresharedKeyEnv)
	}
	if key == "" {
		return nil, fmt.Errorf("spicedb: no preshared key (set %s)", sc.PresharedKeyEnv)
	}
	c, err := authzmodel.Dial(ctx, authzmodel.Options{Endpoint: sc.Endpoint, PresharedKey: key, Insecure: sc.Insecure,
		CAFile: sc.CAFile, Logger: a.log.With("component", "authzmodel")})
	if err != nil {
		return nil, fmt.Errorf("spicedb: %w", err)
	}
	a.closers = append(a.closers, func() { _ = c.Close() })
	reg := a.Watcher.Current()
	if sc.SyncRelationships {
		if _, err := c.Sync(ctx, reg, authzmodel.SyncOptions{}); err != nil {
			return nil, fmt.Errorf("spicedb: sync: %w", err)
		}
	} else {
		c.UseRegistry(reg)
	}
	// Every later registry version reaches SpiceDB (or at least this
	// client's view of which groups matter); a failed sync keeps the old
	// relationships, which the registry check in Decide still bounds.
	a.Watcher.Subscribe(func(r *registry.Registry) {
		if !sc.SyncRelationships {
			c.UseRegistry(r)
			return
		}
		if d, err := c.Sync(ctx, r, authzmodel.SyncOptions{}); err != nil {
			a.log.Error("spicedb: sync failed; relationships of the previous registry remain", "error", err)
		} else if !d.Empty() {
			a.log.Info("spicedb: relationships synced", "added", len(d.Add), "changed", len(d.Change), "removed", len(d.Remove))
		}
	})
	return c, nil
}

func (a *App) startPolicy(ctx context.Context) (func() extauthz.Policy, error) {
	if a.cfg.Policy.Dir == "" {
		e, err := policy.Compile(ctx, policy.EmbeddedDefault())
		if err != nil {
			return nil, fmt.Errorf("policy: shipped default: %w", err)
		}
		a.recordPolicy(e)
		m := policy.NewMemo(e)
		return func() extauthz.Policy { return m }, nil
	}
	// Each revision gets its own memo: results never cross revisions.
	var current atomic.Pointer[policy.Memo]
	w, err := policy.NewWatcher(ctx, a.cfg.Policy.Dir, policy.WatchOptions{Interval: a.cfg.Policy.PollInterval,
		Logger: a.log.With("component", "policy"), Registerer: a.metrics,
		OnChange: func(e *policy.Engine) {
			a.recordPolicy(e)
			current.Store(policy.NewMemo(e))
		}})
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", a.cfg.Policy.Dir, err)
	}
	if current.CompareAndSwap(nil, policy.NewMemo(w.Current())) {
		a.recordPolicy(w.Current())
	}
	a.goRun(func() error { return w.Run(ctx) })
	return func() extauthz.Policy { return current.Load() }, nil
}

// checker adapts the SpiceDB client to the decision's Authorizer.
type checker struct{ c *authzmodel.Client }

func (k checker) CheckInvoke(ctx context.Context, p principal.Principal, server, tool string) (bool, error) {
	r, err := k.c.CheckInvoke(ctx, p, server, tool)
	return r.Allowed, err
}

// toolDrift is where advertised tool definitions are shared between
// ext_proc (which sees them) and ext_authz (which refuses calls to drifted
// tools): the rate-limit Redis when there is one, so every replica agrees,
// else this process's memory.
func (a *App) toolDrift() drift.Store {
	a.driftOnce.Do(func() {
		if addr := a.cfg.RateLimits.Redis; addr != "" {
			rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
			a.closers = append(a.closers, func() { _ = rdb.Close() })
			a.drift = drift.NewRedis(rdb)
			return
		}
		a.drift = drift.NewMemory()
	})
	return a.drift
}
