package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

// harness runs everything a stand-in needs on loopback: an ADS server
// (go-control-plane SnapshotCache), scripted ext_authz and ext_proc gRPC
// servers, an upstream HTTP server, and the stand-in itself.
type harness struct {
	t        *testing.T
	cfg      testConfig
	cache    cachev3.SnapshotCache
	version  int
	proxy    *Proxy
	addr     string // the listener's bound address
	authz    *authzServer
	proc     *procServer
	upstream *upstreamServer

	adsSrv  serverv3.Server
	adsAddr string
	adsStop func()

	mu       sync.Mutex
	requests []*discoveryv3.DiscoveryRequest // every DiscoveryRequest the ADS server saw
}

type harnessOption func(*harness, *Options)

func withEnvoyVersion(v string) harnessOption {
	return func(_ *harness, o *Options) { o.EnvoyVersion = v }
}

func withSplitter(f func([]byte) [][]byte) harnessOption {
	return func(_ *harness, o *Options) { o.ChunkSplitter = f }
}

func withConfig(f func(*testConfig)) harnessOption {
	return func(h *harness, _ *Options) { f(&h.cfg) }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			lines := strings.Split(logs.String(), "\n")
			t.Logf("stand-in log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-150):], "\n"))
		}
	})
	h := &harness{t: t, authz: newAuthzServer(), proc: newProcServer()}
	h.cfg.authzAddr = serveGRPC(t, func(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, h.authz) })
	h.cfg.procAddr = serveGRPC(t, func(s *grpc.Server) { extprocsvc.RegisterExternalProcessorServer(s, h.proc) })
	h.upstream = newUpstreamServer(t)
	h.cfg.upstreamAddr = h.upstream.addr
	popts := Options{NodeID: testNodeID, NodeCluster: "test", CrossRefGrace: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(h, &popts)
	}
	h.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, quietLogger{})
	h.adsSrv = serverv3.NewServer(ctx, h.cache, serverv3.CallbackFuncs{StreamRequestFunc: h.recordRequest})
	h.adsAddr, h.adsStop = h.serveADS("127.0.0.1:0")
	popts.XDSAddress = h.adsAddr
	h.setConfig(h.cfg)
	h.proxy = New(popts)
	done := make(chan struct{})
	go func() { defer close(done); _ = h.proxy.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-h.proxy.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("stand-in not ready")
	}
	addr, ok := h.proxy.ListenerAddr(listenerName)
	if !ok {
		t.Fatal("listener not bound")
	}
	h.addr = addr
	return h
}

// setConfig publishes cfg as a new snapshot version "v<N>".
func (h *harness) setConfig(cfg testConfig) string {
	h.t.Helper()
	h.version++
	v := fmt.Sprintf("v%d", h.version)
	snap, err := cachev3.NewSnapshot(v, cfg.resources())
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.cache.SetSnapshot(context.Background(), testNodeID, snap); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) serveADS(addr string) (string, func()) {
	h.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	s := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(s, h.adsSrv)
	go func() { _ = s.Serve(ln) }()
	h.t.Cleanup(s.Stop)
	return ln.Addr().String(), s.Stop
}

func (h *harness) recordRequest(_ int64, r *discoveryv3.DiscoveryRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests = append(h.requests, r)
	return nil
}

// nackFor returns the first NACK the ADS server received for a type.
func (h *harness) nackFor(typeURL string) *discoveryv3.DiscoveryRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.requests {
		if r.GetTypeUrl() == typeURL && r.GetErrorDetail() != nil {
			return r
		}
	}
	return nil
}

func (h *harness) url(path string) string { return "http://" + h.addr + path }

func (h *harness) do(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp, body
}

func (h *harness) post(path, body string, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func serveGRPC(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// authzServer answers Check with a scripted function and records requests.
type authzServer struct {
	authv3.UnimplementedAuthorizationServer
	mu    sync.Mutex
	fn    func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
	calls []*authv3.CheckRequest
}

func newAuthzServer() *authzServer {
	return &authzServer{fn: func(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
		return &authv3.CheckResponse{Status: &rpcstatus.Status{}}, nil
	}}
}

func (a *authzServer) script(fn func(*authv3.CheckRequest) (*authv3.CheckResponse, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fn = fn
}

func (a *authzServer) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	a.mu.Lock()
	a.calls = append(a.calls, r)
	fn := a.fn
	a.mu.Unlock()
	return fn(r)
}

func (a *authzServer) checks() []*authv3.CheckRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*authv3.CheckRequest(nil), a.calls...)
}

// procServer runs a scripted handler per Process stream and records every
// message it received, per stream.
type procServer struct {
	extprocsvc.UnimplementedExternalProcessorServer
	mu      sync.Mutex
	handler func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error
	streams [][]*extprocsvc.ProcessingRequest
}

func newProcServer() *procServer {
	return &procServer{handler: passthrough(nil)}
}

func (p *procServer) script(h func(extprocsvc.ExternalProcessor_ProcessServer, func(*extprocsvc.ProcessingRequest)) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handler = h
}

func (p *procServer) Process(srv extprocsvc.ExternalProcessor_ProcessServer) error {
	p.mu.Lock()
	idx := len(p.streams)
	p.streams = append(p.streams, nil)
	h := p.handler
	p.mu.Unlock()
	record := func(r *extprocsvc.ProcessingRequest) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.streams[idx] = append(p.streams[idx], r)
	}
	return h(srv, record)
}

func (p *procServer) recorded() [][]*extprocsvc.ProcessingRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]*extprocsvc.ProcessingRequest, len(p.streams))
	for i, s := range p.streams {
		out[i] = append([]*extprocsvc.ProcessingRequest(nil), s...)
	}
	return out
}

// passthrough answers every message with an empty response of the
// matching type; mutate, if set, may change the answer.
func passthrough(mutate func(*extprocsvc.ProcessingRequest, *extprocsvc.ProcessingResponse)) func(extprocsvc.ExternalProcessor_ProcessServer, func(*extprocsvc.ProcessingRequest)) error {
	return func(srv extprocsvc.ExternalProcessor_ProcessServer, record func(*extprocsvc.ProcessingRequest)) error {
		for {
			req, err := srv.Recv()
			if err != nil {
				return nil
			}
			record(req)
			resp := emptyAnswer(req)
			if mutate != nil {
				mutate(req, resp)
			}
			if err := srv.Send(resp); err != nil {
				return nil
			}
		}
	}
}

func emptyAnswer(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	switch req.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvc.HeadersResponse{}}}
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{}}}
	case *extprocsvc.ProcessingRequest_RequestBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{RequestBody: &extprocsvc.BodyResponse{}}}
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvc.BodyResponse{}}}
	}
	return &extprocsvc.ProcessingResponse{}
}

// upstreamServer is the MCP server behind the route: /mcp echoes the
// request it got as JSON; tests can install other handlers.
type upstreamServer struct {
	*httptest.Server
	addr  string
	mu    sync.Mutex
	seen  []seenRequest
	extra map[string]http.HandlerFunc
}

type seenRequest struct {
	Method        string      `json:"method"`
	Path          string      `json:"path"`
	Host          string      `json:"host"`
	Header        http.Header `json:"header"`
	Body          string      `json:"body"`
	ContentLength int64       `json:"content_length"`
	Chunked       bool        `json:"chunked"`
}

func newUpstreamServer(t *testing.T) *upstreamServer {
	u := &upstreamServer{extra: map[string]http.HandlerFunc{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	u.addr = strings.TrimPrefix(u.URL, "http://")
	return u
}

func (u *upstreamServer) handle(path string, h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.extra[path] = h
}

func (u *upstreamServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sr := seenRequest{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Header: r.Header, Body: string(body),
		ContentLength: r.ContentLength, Chunked: len(r.TransferEncoding) > 0}
	u.mu.Lock()
	u.seen = append(u.seen, sr)
	h := u.extra[r.URL.Path]
	u.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sr)
}

func (u *upstreamServer) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
