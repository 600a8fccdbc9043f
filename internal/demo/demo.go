// Package demo holds the upstream MCP servers of the quickstart and the
// end-to-end suite: a clinical-records server (ehr), a trading desk (trading)
// and a mailbox (mail). They are built with the official MCP Go SDK so the
// gateway is exercised against a real implementation of the protocol, in both
// response styles the Streamable HTTP transport allows.
//
// The tools match the example registry (examples/registry) name for name,
// description for description and schema for schema: the gateway pins those
// definitions, so any drift here shows up as a "changed tool" (rug pull).
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Path is where every demo server serves its MCP endpoint.
const Path = "/mcp"

// Mode selects how the servers answer a POSTed request. ModeJSON or ModeSSE
// may be combined with ModeStateless.
type Mode int

const (
	// ModeJSON answers with one application/json JSON-RPC response.
	ModeJSON Mode = 0
	// ModeSSE answers with a text/event-stream carrying the response.
	ModeSSE Mode = 1
	// ModeStateless serves without sessions: no Mcp-Session-Id, GET and
	// DELETE answer 405. Only a stateless server speaks the sessionless
	// protocol 2026-07-28; it still answers legacy initialize-based clients.
	// Without it the server is session-based and negotiates 2025-11-25 or
	// older, which a 2026 client falls back to.
	ModeStateless Mode = 2
)

func (m Mode) String() string {
	if m&^(ModeSSE|ModeStateless) != 0 {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	s := "json"
	if m&ModeSSE != 0 {
		s = "sse"
	}
	if m&ModeStateless != 0 {
		s += "+stateless"
	}
	return s
}

// IDs returns the ids of the demo servers, sorted.
func IDs() []string { return []string{"ehr", "mail", "trading"} }

// quickstartAddrs are the fixed addresses of the quickstart, the upstreams
// written in examples/registry.
var quickstartAddrs = map[string]string{
	"ehr":     "127.0.0.1:9101",
	"trading": "127.0.0.1:9102",
	"mail":    "127.0.0.1:9103",
}

// QuickstartAddr returns the fixed address the quickstart serves server id
// on, the upstream the example registry names for it.
func QuickstartAddr(id string) (string, error) {
	if a, ok := quickstartAddrs[id]; ok {
		return a, nil
	}
	_, err := catalog(id)
	return "", err
}

// NewServer builds the MCP server with the given id. It is a fresh server each
// time: state such as order numbers is per server.
func NewServer(id string) (*mcp.Server, error) {
	defs, err := catalog(id)
	if err != nil {
		return nil, err
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "actiongate-demo-" + id, Version: "1.0.0"}, nil)
	for _, d := range defs {
		d.register(srv, d.tool())
	}
	return srv, nil
}

// Tools returns the tool definitions server id advertises, as they appear
// in tools/list. Tests compare them with the example registry.
func Tools(id string) ([]*mcp.Tool, error) {
	defs, err := catalog(id)
	if err != nil {
		return nil, err
	}
	tools := make([]*mcp.Tool, 0, len(defs))
	for _, d := range defs {
		tools = append(tools, d.tool())
	}
	return tools, nil
}

// Handler serves srv's Streamable HTTP endpoint at Path and 404 elsewhere.
//
// The SDK's DNS-rebinding protection stays on: a request reaching a loopback
// listener must carry a loopback Host (127.0.0.1:<port>, localhost:<port>),
// which is what a gateway on the same machine sends; anything else gets 403.
func Handler(srv *mcp.Server, mode Mode) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{JSONResponse: mode&ModeSSE == 0, Stateless: mode&ModeStateless != 0})
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	return mux
}

// Serve serves server id on l until ctx ends, then shuts down and closes l.
// It returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, l net.Listener, id string, mode Mode) error {
	srv, err := NewServer(id)
	if err != nil {
		_ = l.Close()
		return err
	}
	return serve(ctx, l, Handler(srv, mode))
}

func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	stopped := context.AfterFunc(ctx, func() {
		// SSE streams never go idle on their own: give them a moment, then
		// close what is left.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			_ = hs.Close()
		}
	})
	defer stopped()
	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Running is a demo server started by Start.
type Running struct {
	// URL is the MCP endpoint, http://127.0.0.1:<port>/mcp.
	URL string
	// Addr is the listening address, 127.0.0.1:<port>.
	Addr string
	// Server is the live MCP server; tests change its tools through it
	// (for example to simulate a rug pull).
	Server *mcp.Server

	id     string
	cancel context.CancelFunc
	done   chan error
}

// Start serves server id on addr ("" means 127.0.0.1 on a free port) in the
// background. The endpoint accepts connections when Start returns.
func Start(addr, id string, mode Mode) (*Running, error) {
	return StartWrapped(addr, id, mode, nil)
}

// StartWrapped is Start with the HTTP handler wrapped (e.g. by a token
// verifier, as an upstream that checks the gateway's tokens would be).
func StartWrapped(addr, id string, mode Mode, wrap func(http.Handler) http.Handler) (*Running, error) {
	srv, err := NewServer(id)
	if err != nil {
		return nil, err
	}
	return startHandler(addr, id, srv, mode, wrap)
}

func startHandler(addr, id string, srv *mcp.Server, mode Mode, wrap func(http.Handler) http.Handler) (*Running, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo server %s: listen on %s: %w", id, addr, err)
	}
	h := Handler(srv, mode)
	if wrap != nil {
		h = wrap(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{
		URL:    "http://" + l.Addr().String() + Path,
		Addr:   l.Addr().String(),
		Server: srv,
		id:     id,
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() { r.done <- serve(ctx, l, h) }()
	return r, nil
}

// Close stops the server and waits for it to finish. It returns the error
// that ended serving, if any other than the shutdown. Close is idempotent.
func (r *Running) Close() error {
	r.cancel()
	err, ok := <-r.done
	if ok {
		close(r.done)
	}
	return err
}

// Redefine re-registers one tool with another description, as a server
// that changes a tool after it was reviewed would (a "rug pull"). The SDK
// tells connected sessions with notifications/tools/list_changed.
func (r *Running) Redefine(tool, description string) error {
	defs, err := catalog(r.id)
	if err != nil {
		return err
	}
	for _, d := range defs {
		if d.name == tool {
			d.description = description
			d.register(r.Server, d.tool())
			return nil
		}
	}
	return fmt.Errorf("demo server %s has no tool %q", r.id, tool)
}
