package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/actiongate/actiongate/authzmodel"
	"github.com/actiongate/actiongate/extauthz"
	"github.com/actiongate/actiongate/extproc"
	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/credinject"
	"github.com/actiongate/actiongate/internal/drift"
	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/mint"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/internal/revocation"
	"github.com/actiongate/actiongate/xds"
)

// App is a running set of services.
type App struct {
	cfg     Config
	log     *slog.Logger
	metrics *prometheus.Registry

	Watcher *registry.Watcher // nil unless xds or extauthz runs
	XDS     *xds.Server       // nil unless xds runs

	driftOnce sync.Once
	drift     drift.Store

	// spool is this process's audit log, shared by extauthz and extproc;
	// nil when audit is disabled.
	spool   *audit.Spool
	shipper *audit.Shipper
	tracer  trace.Tracer // nil when tracing is off
	store   *contentstore.Store

	// Credentials (ext_proc and the admin API).
	keyRing  *mint.KeyRing
	minter   *mint.Minter
	injector *credinject.Injector
	broker   *broker.Broker
	// revState is this process's copy of the revocations in force, kept
	// in step with the shared topic by revNode.
	revState *revocation.State
	revNode  *revocation.Node
	// live holds what revocations act on, set while services start
	// (applyRevocation reads them from the channel's goroutine).
	live struct {
		sync.Mutex
		verifier *identity.Verifier
		authz    *authzmodel.Client
		extproc  *extproc.Server
	}
	// verifier and authz are ext_authz's, reused by token exchange.
	verifier *identity.Verifier
	authz    *authzmodel.Client

	addrs   map[string]string
	grpcs   []*grpc.Server
	healths []*health.Server
	https   []*http.Server
	closers []func()
	wg      sync.WaitGroup
	errs    chan error
	cancel  context.CancelFunc
}

// Start binds every enabled service and serves in the background. It
// returns only when each is accepting connections and, when xds runs, the
// first configuration is published; any failure stops what started.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &App{cfg: cfg, log: log, metrics: prometheus.NewRegistry(), addrs: map[string]string{},
		errs: make(chan error, 8), cancel: cancel, revState: revocation.NewState()}
	a.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.start(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context) error {
	cfg := a.cfg
	if cfg.Runs(ServiceXDS) || cfg.Runs(ServiceExtAuthz) || cfg.Runs(ServiceMeta) ||
		(cfg.Runs(ServiceExtProc) && cfg.Registry.Dir != "") {
		w, err := registry.NewWatcher(cfg.Registry.Dir, registry.WatchOptions{
			Interval: cfg.Registry.PollInterval, Logger: a.log, Registerer: a.metrics})
		if err != nil {
			return fmt.Errorf("registry %s: %w", cfg.Registry.Dir, err)
		}
		a.Watcher = w
		a.goRun(func() error { return w.Run(ctx) })
	}
	if cfg.Runs(ServiceExtAuthz) || cfg.Runs(ServiceExtProc) {
		if err := a.startAudit(ctx); err != nil {
			return err
		}
		if err := a.openStore(); err != nil {
			return err
		}
		if err := a.startRevocation(ctx); err != nil {
			return err
		}
		tr, err := a.startTracing(ctx)
		if err != nil {
			return err
		}
		a.tracer = tr
	}
	if cfg.Runs(ServiceExtAuthz) {
		if err := a.startExtAuthz(ctx); err != nil {
			return err
		}
	}
	if (cfg.Runs(ServiceExtProc) || cfg.Runs(ServiceAdmin)) && !cfg.Credentials.Disabled && cfg.Credentials.KeysDir != "" {
		if err := a.startCredentials(ctx); err != nil {
			return err
		}
	} else if cfg.Runs(ServiceExtProc) && cfg.Credentials.Disabled {
		a.log.Warn("credential minting disabled: upstream requests carry no credential from the gateway")
	}
	if cfg.Runs(ServiceExtProc) {
		guard, err := cfg.Output.guard()
		if err != nil {
			return err
		}
		if guard == nil {
			a.log.Warn("output policy disabled: tool output reaches agents unredacted and uninspected")
		}
		eo := extproc.Options{Logger: a.log, MaxBodyBytes: cfg.MaxRequestBytes, Registerer: a.metrics, Guard: guard, Tracer: a.tracer}
		if a.spool != nil {
			eo.Recorder = a.spool
		}
		if a.injector != nil {
			eo.Credentials = a.injector
		}
		if a.Watcher != nil {
			eo.Registry = a.Watcher.Current
			eo.ObserveDefinitions = a.toolDrift().Observe
		}
		s := extproc.New(eo)
		a.live.Lock()
		a.live.extproc = s
		a.live.Unlock()
		if err := a.serveGRPC(ServiceExtProc, cfg.ExtProc.Listen, s.Register); err != nil {
			return err
		}
	}
	if cfg.Runs(ServiceMeta) {
		h := extauthz.MetadataHandler(a.Watcher.Current, a.metadataOptions())
		if err := a.serveHTTP(ServiceMeta, cfg.Meta.Listen, h); err != nil {
			return err
		}
	}
	if cfg.Runs(ServiceXDS) {
		if err := a.startXDS(ctx); err != nil {
			return err
		}
	}
	if cfg.Runs(ServiceAdmin) {
		return a.startAdmin()
	}
	return nil
}

func (a *App) startXDS(ctx context.Context) error {
	dp := a.cfg.XDS.DataPlane
	opts := xds.Options{
		NodeID: a.cfg.XDS.NodeID, ListenAddress: dp.ListenAddress, ListenPort: dp.ListenPort,
		ExtAuthzAddress: firstNonEmpty(dp.ExtAuthzAddress, a.addrs[ServiceExtAuthz], a.cfg.ExtAuthz.Listen),
		ExtProcAddress:  firstNonEmpty(dp.ExtProcAddress, a.addrs[ServiceExtProc], a.cfg.ExtProc.Listen),
		MetaAddress:     firstNonEmpty(dp.MetaAddress, a.addrs[ServiceMeta], a.metaIfRun()),
		MaxRequestBytes: uint32(a.cfg.MaxRequestBytes),
	}
	a.XDS = xds.NewServer(ctx, xds.ServerOptions{Build: opts, Logger: a.log.With("component", "xds"), Metrics: a.metrics})
	if _, err := a.XDS.Update(ctx, a.Watcher.Current()); err != nil {
		return fmt.Errorf("xds: initial configuration: %w", err)
	}
	// Later registry versions are published as they are accepted; a
	// version xds cannot build is logged and the previous one kept.
	a.Watcher.Subscribe(func(r *registry.Registry) { _, _ = a.XDS.Update(ctx, r) })
	return a.serveGRPC(ServiceXDS, a.cfg.XDS.Listen, a.XDS.Register)
}

func (a *App) serveGRPC(name, addr string, register func(*grpc.Server)) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", name, addr, err)
	}
	g := grpc.NewServer()
	register(g)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	a.grpcs = append(a.grpcs, g)
	a.healths = append(a.healths, hs)
	a.addrs[name] = lis.Addr().String()
	a.goRun(func() error { return g.Serve(lis) })
	a.log.Info("serving", "service", name, "address", lis.Addr().String())
	return nil
}

func (a *App) startAdmin() error {
	mux := a.adminMux()
	if err := a.mountCredentials(mux); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := a.mountRevocation(mux); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return a.serveHTTP(ServiceAdmin, a.cfg.Admin.Listen, mux)
}

func (a *App) serveHTTP(name, addr string, h http.Handler) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	a.https = append(a.https, srv)
	a.addrs[name] = lis.Addr().String()
	a.goRun(func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.log.Info("serving", "service", name, "address", lis.Addr().String())
	return nil
}

// metaIfRun: xds publishes the metadata route only when some process
// serves it; with the meta service elsewhere, set dataPlane.metaAddress.
func (a *App) metaIfRun() string {
	if a.cfg.Runs(ServiceMeta) {
		return a.cfg.Meta.Listen
	}
	return ""
}

func (a *App) metadataOptions() extauthz.MetadataOptions {
	return extauthz.MetadataOptions{PublicURL: a.cfg.Identity.PublicURL, AuthorizationServers: a.cfg.Identity.Issuers}
}

func (a *App) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if a.cfg.Runs(ServiceXDS) && a.XDS.Current() == nil {
			http.Error(w, "xds: no configuration published", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /registry", func(w http.ResponseWriter, _ *http.Request) {
		if a.Watcher == nil {
			http.Error(w, "no registry in this process", http.StatusNotFound)
			return
		}
		b, err := a.Watcher.Current().JSON()
		if err != nil {
			http.Error(w, "registry export failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	return mux
}

func (a *App) goRun(f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			a.errs <- err
		}
	}()
}

// Addr returns the bound address of a service ("" if it does not run).
func (a *App) Addr(service string) string { return a.addrs[service] }

// Err delivers the first error of a service that stopped on its own.
func (a *App) Err() <-chan error { return a.errs }

// Close stops every service: health goes NOT_SERVING first so load
// balancers drain, then in-flight RPCs get a bounded grace period.
func (a *App) Close() {
	for _, h := range a.healths {
		h.Shutdown()
	}
	a.cancel()
	for _, srv := range a.https {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	for _, g := range a.grpcs {
		stopGracefully(g, 5*time.Second)
	}
	a.wg.Wait()
	// Last started, first stopped: the audit shipper before its spool.
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// stopGracefully lets in-flight RPCs finish, but not forever: ext_proc
// streams of SSE responses can be long-lived.
func stopGracefully(g *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		g.Stop()
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
