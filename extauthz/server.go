package extauthz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/registry"
)

// ContextServerID is the route context extension naming the MCP server
// (set by xds on every MCP route).
const ContextServerID = "server_id"

// Options configure the ext_authz service.
type Options struct {
	// Registry returns the registry version to decide with; it is read once
	// per Check (lock-free, see registry.Watcher.Current).
	Registry     func() *registry.Registry
	MaxBodyBytes int
	Logger       *slog.Logger
	Metrics      prometheus.Registerer
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	opts      Options
	log       *slog.Logger
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
}

// New returns an ext_authz server.
func New(o Options) *Server {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	s := &Server{opts: o, log: o.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "actiongate_extauthz_decisions_total", Help: "ext_authz decisions by outcome and reason.",
	}, []string{"outcome", "reason"})
	s.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "actiongate_extauthz_check_seconds", Help: "Time to answer one Check.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
	})
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.decisions, s.latency)
	}
	return s
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) }

// Check never returns an error: Envoy treats an error as "could not ask"
// (status_on_error), and a denial must be a denial.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	in := s.input(req)
	res := Decide(in)
	if ctx.Err() != nil && res.Decision.Allowed() {
		// Envoy has given up on us; whatever we answer, never let a late
		// allow be the last word.
		res = deny(res.Decision, decision.ReasonInternal, "decision deadline exceeded", res.RequestID)
	}
	d := res.Decision
	s.decisions.WithLabelValues(string(d.Outcome), string(d.Reason)).Inc()
	s.latency.Observe(time.Since(start).Seconds())
	s.log.LogAttrs(ctx, slog.LevelInfo, "decision",
		slog.String("decision_id", d.ID), slog.String("outcome", string(d.Outcome)),
		slog.String("reason", string(d.Reason)), slog.String("server", d.Server),
		slog.String("method", d.Method), slog.String("tool", d.Tool),
		slog.String("registry_version", d.RegistryVersion),
		slog.String("request_id", header(req, "x-request-id")))
	return Respond(res), nil
}

// input translates Envoy's request attributes; it reads nothing the client
// could set to steer the decision except the body, which Decide parses.
func (s *Server) input(req *authv3.CheckRequest) Input {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	body := h.GetRawBody()
	if body == nil && h.GetBody() != "" {
		body = []byte(h.GetBody())
	}
	var reg *registry.Registry
	if s.opts.Registry != nil {
		reg = s.opts.Registry()
	}
	return Input{
		DecisionID:   newDecisionID(),
		Registry:     reg,
		ServerID:     attrs.GetContextExtensions()[ContextServerID],
		HTTPMethod:   h.GetMethod(),
		Body:         body,
		BodyPartial:  header(req, "x-envoy-auth-partial-body") == "true",
		MaxBodyBytes: s.opts.MaxBodyBytes,
	}
}

// header reads a request header from either encoding Envoy may use
// (header_map with encode_raw_headers, else the headers map).
func header(req *authv3.CheckRequest, name string) string {
	h := req.GetAttributes().GetRequest().GetHttp()
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if hv.GetKey() == name {
			if rv := hv.GetRawValue(); len(rv) > 0 {
				return string(rv)
			}
			return hv.GetValue()
		}
	}
	return h.GetHeaders()[name]
}

// newDecisionID returns a random 128-bit id. crypto/rand does not fail on
// supported platforms (Go 1.24+ crashes rather than return an error).
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
