package xds

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/actiongate/actiongate/internal/registry"
)

// ServerOptions configure the ADS server.
type ServerOptions struct {
	Build   Options
	Logger  *slog.Logger
	Metrics prometheus.Registerer // optional; never the global registry implicitly
}

// Server publishes the registry to data planes over ADS (SotW and delta,
// both served by go-control-plane).
type Server struct {
	opts  Options
	log   *slog.Logger
	cache cachev3.SnapshotCache
	ads   serverv3.Server

	mu        sync.Mutex
	current   *Resources            // last snapshot set
	acked     *Resources            // last snapshot a data plane ACKed
	published map[string]*Resources // recent snapshots by version, to match late ACKs
	order     []string              // versions in published, oldest first
	rollback  int

	nacks   *prometheus.CounterVec
	updates *prometheus.CounterVec
}

// NewServer returns a server with no configuration yet; call Update.
func NewServer(ctx context.Context, so ServerOptions) *Server {
	s := &Server{opts: so.Build.withDefaults(), log: so.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.nacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "actiongate_xds_nacks_total", Help: "xDS responses rejected by a data plane, by type.",
	}, []string{"type_url"})
	s.updates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "actiongate_xds_snapshot_updates_total", Help: "Snapshot builds from registry versions, by result.",
	}, []string{"result"})
	if so.Metrics != nil {
		so.Metrics.MustRegister(s.nacks, s.updates)
	}
	s.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	s.ads = serverv3.NewServer(ctx, s.cache, serverv3.CallbackFuncs{StreamRequestFunc: s.onRequest})
	return s
}

// Register adds the ADS service to g.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.ads)
}

// Update builds, validates and publishes the configuration for reg. On any
// error nothing changes: data planes keep the last good configuration.
func (s *Server) Update(ctx context.Context, reg *registry.Registry) (*Resources, error) {
	res, err := Build(reg, s.opts)
	if err == nil {
		err = s.set(ctx, res)
	}
	if err != nil {
		s.updates.WithLabelValues("error").Inc()
		s.log.Error("xds: registry version not published; keeping the previous configuration",
			"registry_version", reg.Version.String(), "error", err)
		return nil, err
	}
	s.updates.WithLabelValues("ok").Inc()
	s.log.Info("xds: configuration published", "version", res.Version, "registry_version", reg.Version.String(),
		"servers", len(reg.Servers))
	return res, nil
}

func (s *Server) set(ctx context.Context, res *Resources) error {
	snap, err := res.Snapshot()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cache.SetSnapshot(ctx, s.opts.NodeID, snap); err != nil {
		return fmt.Errorf("xds: set snapshot: %w", err)
	}
	s.current = res
	if s.published == nil {
		s.published = map[string]*Resources{}
	}
	s.published[res.Version] = res
	s.order = append(s.order, res.Version)
	if len(s.order) > maxRemembered {
		delete(s.published, s.order[0])
		s.order = s.order[1:]
	}
	return nil
}

// maxRemembered bounds how many published versions an ACK can still name.
const maxRemembered = 8

// Current returns the resources last published, or nil.
func (s *Server) Current() *Resources {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// onRequest watches ACKs and NACKs. go-control-plane re-sends a rejected
// snapshot at once (the NACK carries the previous version), so a NACK of
// the current version rolls back to the last ACKed configuration under a
// new version; with none, data planes keep what they had.
func (s *Server) onRequest(_ int64, req *discoveryv3.DiscoveryRequest) error {
	if req.GetErrorDetail() == nil {
		s.noteACK(req.GetVersionInfo())
		return nil
	}
	s.nacks.WithLabelValues(req.GetTypeUrl()).Inc()
	s.log.Error("xds: data plane rejected configuration",
		"node", req.GetNode().GetId(), "type_url", req.GetTypeUrl(),
		"kept_version", req.GetVersionInfo(), "error", req.GetErrorDetail().GetMessage())
	// Synchronously, before the server answers this NACK: the watch it
	// opens then sees the rollback instead of re-sending the rejected
	// version. Safe: ADS response channels are buffered per type.
	s.rollBack()
	return nil
}

func (s *Server) noteACK(version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An ACK can arrive after a newer version was set; match it by version.
	if r, ok := s.published[version]; ok {
		s.acked = r
	}
}

func (s *Server) rollBack() {
	s.mu.Lock()
	good, cur := s.acked, s.current
	if good == nil || cur == nil || good.Version == cur.Version {
		s.mu.Unlock()
		return
	}
	s.rollback++
	back := *good
	back.Version = fmt.Sprintf("%s-rollback-%d", good.Version, s.rollback)
	s.mu.Unlock()
	if err := s.set(context.Background(), &back); err != nil {
		s.log.Error("xds: rollback failed", "error", err)
		return
	}
	s.log.Warn("xds: rolled back to the last acknowledged configuration", "version", back.Version)
}
