// Package extproc is ActionGate's Envoy ext_proc server: it sees every MCP
// request and response that ext_authz let through and processes the
// response bodies (JSON-RPC messages and SSE event streams) on their way
// back to the agent.
//
// server.go is only the gRPC stream loop; each phase is a function of
// (state, message) → (response, state) in phases.go, response.go and
// sse.go, tested without gRPC.
package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiongate/actiongate/internal/mcp"
	"github.com/actiongate/actiongate/internal/outguard"
	"github.com/actiongate/actiongate/internal/registry"
)

// DefaultMaxBodyBytes matches the listener's per_connection_buffer_limit:
// Envoy refuses larger buffered bodies before they reach us.
const DefaultMaxBodyBytes = 1 << 20

// Options configure a Server. The zero value is usable.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// MaxBodyBytes bounds a buffered request or response body we parse.
	MaxBodyBytes int // default DefaultMaxBodyBytes
	// MaxSSEEventBytes bounds one server-sent event held for reassembly.
	MaxSSEEventBytes int // default mcp.DefaultMaxSSEEvent
	// Registerer receives the server's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Registry, when set, enables tools/list filtering: only tools the
	// acting agent may use and whose definition matches the registry's.
	Registry func() *registry.Registry
	// ObserveDefinitions, when set, receives the definition hash of every
	// registered tool an upstream advertises (internal/drift), so that
	// ext_authz can refuse calls to a tool that drifted from its pin.
	ObserveDefinitions func(ctx context.Context, server string, hashes map[string]string) error
	// Guard is the output policy applied to every message from a tool
	// server (JSON bodies and SSE events) and to tools/call arguments; nil
	// disables redaction and injection interception.
	Guard *outguard.Guard
	// Recorder receives one outcome event per exchange; nil: not audited.
	Recorder Recorder
	// Tracer records one span per exchange, continuing ext_authz's trace.
	Tracer trace.Tracer
	// Credentials, when set, replaces the agent's token on every upstream
	// request with a token minted for the call (and the user's brokered
	// credential where the registry declares one).
	Credentials Credentials
}

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	env     env
	metrics *metrics
	live    streams
}

// New returns a Server. A metrics registration failure is logged, not
// fatal: processing must not depend on being observable.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "extproc")
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		log.Error("registering ext_proc metrics failed", "err", err)
	}
	s := &Server{metrics: m}
	s.env = env{
		log:            log,
		maxBody:        positiveOr(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		maxEvent:       positiveOr(opts.MaxSSEEventBytes, mcp.DefaultMaxSSEEvent),
		problem:        func(reason string) { m.errors.WithLabelValues(reason).Inc() },
		transformJSON:  identityJSON,
		transformEvent: identityEvent,
		registry:       opts.Registry,
		guard:          opts.Guard,
		recorder:       opts.Recorder,
		tracer:         opts.Tracer,
		credentials:    opts.Credentials,
		finding: func(f outguard.Finding) {
			m.findings.WithLabelValues(f.Kind, f.Class, f.Action).Inc()
		},
	}
	if obs := opts.ObserveDefinitions; obs != nil {
		s.env.observe = func(server string, hashes map[string]string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return obs(ctx, server, hashes)
		}
	}
	s.env.transformJSON = chainJSON(toolsListFilter(&s.env), guardJSON(&s.env))
	s.env.transformEvent = chainEvent(toolsListEventFilter(&s.env), guardEvent(&s.env), noteResponseEvent)
	return s
}

func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Register adds the server to g.
func (s *Server) Register(g *grpc.Server) { extprocv3.RegisterExternalProcessorServer(g, s) }

// Process serves one HTTP request/response pair. Every message Envoy sends
// gets exactly one answer of the matching type, in order. It never returns
// before answering a message it received: a stream that simply closes lets
// Envoy continue unprocessed, which is failing open.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	var st state
	// An exchange that ends without a complete response (client gone,
	// stream reset) still leaves its outcome.
	defer func() { finish(&s.env, &st, outcome{errorType: "incomplete"}) }()
	msgs := make(chan *extprocv3.ProcessingRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	var ls *liveStream
	defer func() {
		if ls != nil {
			s.live.remove(ls)
		}
	}()
	var revoked <-chan string
	for {
		var req *extprocv3.ProcessingRequest
		select {
		case req = <-msgs:
		case err := <-recvErr:
			if normalEnd(ctx, err) {
				return nil
			}
			s.env.problem(reasonStream)
			s.env.log.Warn("ext_proc stream receive failed", "err", err)
			return err
		case <-revoked:
			return s.endRevoked(ctx, stream, &st, msgs, recvErr)
		}
		s.metrics.messages.WithLabelValues(phaseOf(req)).Inc()
		resp, next, err := s.step(st, req)
		st = next
		if err != nil {
			reason := reasonInternal
			if errors.Is(err, errUnknownMessage) {
				reason = reasonUnknownMessage
			}
			s.env.problem(reason)
			s.env.log.Error("failing closed", "decision_id", st.x.DecisionID, "phase", phaseOf(req), "err", err)
			resp = internalError(st.x)
		}
		if ls == nil && st.sawRequest && st.x.User != "" {
			ls = &liveStream{user: st.x.User, agent: st.x.Agent, session: st.x.SessionID, revoked: make(chan string, 1)}
			s.live.add(ls)
			revoked = ls.revoked
		}
		if resp == nil {
			continue // flow-control message: Envoy expects no answer
		}
		if err := stream.Send(resp); err != nil {
			if normalEnd(ctx, err) {
				return nil
			}
			s.env.problem(reasonStream)
			s.env.log.Warn("ext_proc stream send failed", "decision_id", st.x.DecisionID, "err", err)
			return err
		}
		if resp.GetImmediateResponse() != nil {
			return nil // Envoy ends processing for this request after it
		}
	}
}

// revokeGrace is how long a revoked exchange waits for a message it can
// answer with an MCP error before the stream is reset instead (an idle SSE
// stream has nothing to answer).
const revokeGrace = 200 * time.Millisecond

// endRevoked ends an exchange whose principal was revoked: cleanly with an
// MCP error when Envoy sends a message it can ride on within revokeGrace,
// else by failing the ext_proc stream, which makes Envoy reset the HTTP
// stream (response already started) or answer 500 (not yet): either way
// the exchange ends.
func (s *Server) endRevoked(ctx context.Context, stream extprocv3.ExternalProcessor_ProcessServer, st *state,
	msgs <-chan *extprocv3.ProcessingRequest, recvErr <-chan error) error {
	s.env.problem(reasonRevoked)
	s.env.log.Info("ending the exchange of a revoked principal", "decision_id", st.x.DecisionID,
		"user", st.x.User, "agent", st.x.Agent)
	timer := time.NewTimer(revokeGrace)
	defer timer.Stop()
	select {
	case req := <-msgs:
		if resp, next, ok := revokedAnswer(&s.env, *st, req); ok {
			*st = next
			_ = stream.Send(resp)
			if resp.GetImmediateResponse() == nil {
				// Later chunks are dropped: answer them until the end.
				return s.drainRevoked(ctx, stream, st, msgs, recvErr)
			}
			return nil
		}
	case <-timer.C:
	case <-recvErr:
		return nil
	case <-ctx.Done():
		return nil
	}
	st.x.notes.Blocked = reasonRevoked
	finish(&s.env, st, outcome{})
	return status.Error(codes.PermissionDenied, "access revoked")
}

// drainRevoked answers every further chunk with nothing, so the client
// receives no data after the error event, until the stream ends.
func (s *Server) drainRevoked(ctx context.Context, stream extprocv3.ExternalProcessor_ProcessServer, st *state,
	msgs <-chan *extprocv3.ProcessingRequest, recvErr <-chan error) error {
	for {
		select {
		case <-recvErr:
			return nil
		case req := <-msgs:
			resp, next, err := s.step(*st, req) // sseFailed: chunks are cleared
			*st = next
			if err != nil || resp == nil {
				continue
			}
			if err := stream.Send(resp); err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// step runs one phase. A panic in a phase fails this request closed instead
// of taking the process (and every other request) down.
func (s *Server) step(st state, req *extprocv3.ProcessingRequest) (resp *extprocv3.ProcessingResponse, next state, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.env.log.Error("panic in ext_proc phase", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, next, err = nil, st, fmt.Errorf("panic in phase %s", phaseOf(req))
		}
	}()
	return step(&s.env, st, req)
}

// normalEnd reports whether err is Envoy finishing the stream: it closes it
// once processing is complete, or cancels it when the HTTP stream ends.
func normalEnd(ctx context.Context, err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return true
	}
	return status.Code(err) == codes.Canceled
}
