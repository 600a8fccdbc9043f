package extauthz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/identity"
	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/internal/telemetry"
)

// ContextServerID is the route context extension naming the MCP server
// (set by xds on every MCP route).
const ContextServerID = "server_id"

// HeaderTask is the request header a client may use to name its task
// (recorded for attribution, never used to authorize).
const HeaderTask = "x-actiongate-task"

// Options configure the ext_authz service. Everything is built before the
// server starts (verifiers, SpiceDB client, compiled policy); nothing is
// built per request.
type Options struct {
	// Registry and Policy return the current versions (lock-free reads).
	Registry func() *registry.Registry
	Policy   func() Policy
	Auth     Authenticator
	Authz    Authorizer
	Schemas  *SchemaCache
	Limits   Limiter
	Drift    DriftView   // nil: drifted tools are only hidden, not refused
	Revoked  Revocations // nil: no emergency revocations
	Audit    AuditOptions
	// Tracer, when set, records one span per decision and continues the
	// trace into the upstream request (traceparent).
	Tracer       trace.Tracer
	Metadata     MetadataOptions
	MaxBodyBytes int
	Clock        func() time.Time
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
	lost      *prometheus.CounterVec
}

// New returns an ext_authz server.
func New(o Options) *Server {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Clock == nil {
		o.Clock = time.Now
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
	s.lost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "actiongate_audit_unrecorded_total",
		Help: "Decision events that could not be written, by reason. A mutating call whose event was lost was denied.",
	}, []string{"reason"})
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.decisions, s.latency, s.lost)
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
	res := Decide(ctx, in, s.deps())
	if ctx.Err() != nil && res.Decision.Allowed() {
		// Envoy has given up on us; whatever we answer, never let a late
		// allow be the last word.
		res = deny(res.Decision, decision.ReasonInternal, "decision deadline exceeded", res.RequestID)
	}
	res = recordDecision(s.opts.Audit, res, start, func(reason string) {
		s.lost.WithLabelValues(reason).Inc()
		s.log.Error("audit event not recorded", "decision_id", res.Decision.ID, "reason", reason,
			"outcome", string(res.Decision.Outcome))
	})
	d := res.Decision
	s.decisions.WithLabelValues(string(d.Outcome), string(d.Reason)).Inc()
	s.latency.Observe(time.Since(start).Seconds())
	if s.log.Enabled(ctx, slog.LevelInfo) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "decision",
			slog.String("decision_id", d.ID), slog.String("outcome", string(d.Outcome)),
			slog.String("reason", string(d.Reason)), slog.String("server", d.Server),
			slog.String("method", d.Method), slog.String("tool", d.Tool),
			slog.String("user", d.Principal.User), slog.String("agent", d.Principal.Agent),
			slog.String("tenant", d.Principal.Tenant), slog.String("task", d.Principal.Task),
			slog.String("registry_version", d.RegistryVersion), slog.String("policy_revision", d.PolicyRevision),
			slog.String("request_id", in.Request.Headers["x-request-id"]))
	}
	resp := Respond(res, s.opts.Metadata)
	if s.opts.Tracer != nil {
		traceDecision(ctx, s.opts.Tracer, in, res, start, resp)
	}
	return resp, nil
}

// traceDecision records the decision's span and, on an allow, hands its
// context to the upstream request, so ext_proc's span and the upstream
// join the same trace (one header, overwritten: an agent cannot graft the
// call onto a trace of its choosing past this point).
func traceDecision(ctx context.Context, tracer trace.Tracer, in Input, res Result, start time.Time, resp *authv3.CheckResponse) {
	d := res.Decision
	tctx := telemetry.ContextFromHeaders(ctx, func(k string) string { return in.Request.Headers[k] })
	c := telemetry.Call{DecisionID: d.ID, Server: d.Server, Method: d.Method, Tool: d.Tool,
		SessionID: in.Request.Headers["mcp-session-id"], ProtocolVersion: in.Request.Headers["mcp-protocol-version"],
		Agent: d.Principal.Agent, Tenant: d.Principal.Tenant, PolicyRevision: d.PolicyRevision, Start: start}
	if res.RequestID != nil {
		c.RequestID = string(res.RequestID)
	}
	if m := res.Message; m != nil {
		tctx = telemetry.ContextFromMeta(tctx, m.Meta)
	}
	tctx, span := telemetry.StartDecision(tctx, tracer, c)
	telemetry.EndDecision(span, d)
	if ok := resp.GetOkResponse(); ok != nil {
		if tp := telemetry.Traceparent(tctx); tp != "" {
			ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
				Header: &corev3.HeaderValue{Key: telemetry.HeaderTraceparent, Value: tp}, Append: wrapperspb.Bool(false)})
		}
	}
}

func (s *Server) deps() Deps {
	d := Deps{Auth: s.opts.Auth, Authz: s.opts.Authz, Limits: s.opts.Limits, Drift: s.opts.Drift, Revoked: s.opts.Revoked}
	if s.opts.Policy != nil {
		if p := s.opts.Policy(); p != nil {
			d.Policy = p
		}
	}
	return d
}

// input translates Envoy's request attributes. The bearer token is read
// here and handed only to the verifier; it is never logged.
func (s *Server) input(req *authv3.CheckRequest) Input {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	body := h.GetRawBody()
	if body == nil && h.GetBody() != "" {
		body = []byte(h.GetBody())
	}
	headers := headerMap(req)
	bearer, _ := identity.BearerToken(headers["authorization"])
	if bearer == "" && headers["authorization"] != "" {
		bearer = headers["authorization"] // presented but malformed: let the verifier refuse it
	}
	var reg *registry.Registry
	if s.opts.Registry != nil {
		reg = s.opts.Registry()
	}
	var schemas *Schemas
	if reg != nil && s.opts.Schemas != nil {
		schemas = s.opts.Schemas.For(reg)
	}
	return Input{
		Schemas:    schemas,
		DecisionID: newDecisionID(),
		Registry:   reg,
		ServerID:   attrs.GetContextExtensions()[ContextServerID],
		Request: mcp.HTTPRequest{
			Method: h.GetMethod(), Headers: headers, Body: body,
			BodyTruncated: headers["x-envoy-auth-partial-body"] == "true",
		},
		Bearer:     bearer,
		TaskHeader: headers[HeaderTask],
		// Decisions are timed to the second: the policy sees, and replay
		// records, exactly this instant (and identical calls within it
		// share one policy evaluation).
		Now:          s.opts.Clock().UTC().Truncate(time.Second),
		MaxBodyBytes: s.opts.MaxBodyBytes,
	}
}

// headerMap reads request headers from either encoding Envoy may use
// (header_map with encode_raw_headers, else the headers map), joining
// repeats with "," as Envoy does.
func headerMap(req *authv3.CheckRequest) map[string]string {
	h := req.GetAttributes().GetRequest().GetHttp()
	raw := h.GetHeaderMap().GetHeaders()
	if len(raw) == 0 {
		return h.GetHeaders()
	}
	m := make(map[string]string, len(raw))
	for _, hv := range raw {
		v := string(hv.GetRawValue())
		if v == "" {
			v = hv.GetValue()
		}
		k := strings.ToLower(hv.GetKey())
		if prev, ok := m[k]; ok {
			v = prev + "," + v
		}
		m[k] = v
	}
	return m
}

// newDecisionID returns a random 128-bit id. crypto/rand does not fail on
// supported platforms (Go 1.24+ crashes rather than return an error).
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
