package standin

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// liveListener is a bound socket. It serves once its route configuration
// has arrived (until then the listener is warming, as in Envoy).
type liveListener struct {
	p       *Proxy
	name    string
	address string // as configured
	ln      net.Listener
	srv     *http.Server
	active  atomic.Pointer[activeListener]
}

func (p *Proxy) applyClusters(cs *clusterSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.clusters = cs
	p.reconcileLocked()
	p.upstreams.retain(cs)
}

// applyListeners binds new listeners before committing anything, so a bind
// failure NACKs the update and leaves the running config untouched.
func (p *Proxy) applyListeners(next map[string]*listenerConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var bound []*liveListener
	for _, name := range sortedKeys(next) {
		lc := next[name]
		if l, ok := p.live[name]; ok {
			if l.address != lc.address {
				closeAll(bound)
				return fmt.Errorf("listener %q: address %s differs from the running %s; Envoy rejects address changes", name, lc.address, l.address)
			}
			continue
		}
		ln, err := net.Listen("tcp", lc.address)
		if err != nil {
			closeAll(bound)
			return fmt.Errorf("listener %q: cannot bind %s: %w", name, lc.address, err)
		}
		bound = append(bound, &liveListener{p: p, name: name, address: lc.address, ln: ln})
	}
	for _, l := range bound {
		p.live[l.name] = l
	}
	for name, l := range p.live {
		if _, ok := next[name]; !ok {
			delete(p.live, name)
			go l.drain()
		}
	}
	p.cfg.listeners = next
	p.reconcileLocked()
	return nil
}

func closeAll(ls []*liveListener) {
	for _, l := range ls {
		l.ln.Close()
	}
}

func (p *Proxy) applyRoutes(next map[string]*routeConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	routes := maps.Clone(p.cfg.routes)
	maps.Copy(routes, next)
	p.cfg.routes = routes
	p.reconcileLocked()
}

func (p *Proxy) dropUnsubscribedRoutes(names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	routes := map[string]*routeConfig{}
	for name, rc := range p.cfg.routes {
		if slices.Contains(names, name) {
			routes[name] = rc
		}
	}
	p.cfg.routes = routes
}

// reconcileLocked publishes a new activeListener for every listener whose
// route configuration is present. A listener still waiting for RDS keeps
// serving its previous config, or is not served at all yet.
func (p *Proxy) reconcileLocked() {
	for name, l := range p.live {
		lc := p.cfg.listeners[name]
		if lc == nil {
			continue
		}
		rc := p.cfg.routes[lc.hcm.routeConfigName]
		if rc == nil {
			continue
		}
		l.active.Store(&activeListener{lc: lc, routes: rc, clusters: p.cfg.clusters})
		if l.srv == nil {
			l.serve(lc.hcm)
			p.markReady()
		}
	}
}

func (l *liveListener) serve(h *hcmConfig) {
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: h.requestHeadersTimeout,
		MaxHeaderBytes:    maxHeadersBytes,
		IdleTimeout:       time.Hour,
		ErrorLog:          slog.NewLogLogger(l.p.log.Handler(), slog.LevelDebug),
	}
	if h.codecAuto {
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		l.srv.Protocols = &protos
	}
	srv, ln := l.srv, l.ln
	l.p.log.Info("listener serving", "listener", l.name, "address", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			l.p.log.Error("listener stopped", "listener", l.name, "err", err)
		}
	}()
}

func (l *liveListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	al := l.active.Load()
	if al == nil {
		http.Error(w, "listener warming", http.StatusServiceUnavailable)
		return
	}
	l.p.serveStream(w, r, al)
}

// drain stops accepting and lets in-flight streams finish for a while, a
// short version of Envoy's listener drain.
func (l *liveListener) drain() {
	if l.srv == nil {
		l.ln.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
}

func (l *liveListener) stop() {
	if l.srv == nil {
		l.ln.Close()
		return
	}
	l.srv.Close()
}
