package standin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// routeUpstream is the router filter: it forwards the request to the
// route's cluster over HTTP/1.1 (or HTTP/2 when the cluster says so) and
// returns the upstream response with a body that streams as it arrives.
func (p *Proxy) routeUpstream(ctx context.Context, s *stream, req *request) (*response, *localReply) {
	if s.route == nil {
		return nil, newLocalReply(http.StatusNotFound, "", "route_not_found")
	}
	c := s.al.clusters.byName[s.route.cluster]
	if c == nil {
		return nil, newLocalReply(http.StatusServiceUnavailable, "", "cluster_not_found")
	}
	uctx, ucancel := context.WithCancelCause(ctx)
	rt := &routeTimer{d: s.route.timeout, cancel: ucancel}
	upReq, body := s.upstreamRequest(uctx, c, req, rt.start)
	if body == nil {
		rt.start()
	}
	sent := time.Now()
	resp, err := p.upstreams.transport(c).RoundTrip(upReq)
	if err != nil {
		rt.stop()
		ucancel(nil)
		if body != nil {
			if lr, ok := asLocalReply(body.err); ok {
				return nil, lr
			}
		}
		if errors.Is(context.Cause(uctx), errRouteTimeout) {
			return nil, newLocalReply(http.StatusGatewayTimeout, "upstream request timeout", "upstream_response_timeout")
		}
		return nil, upstreamFailure(err)
	}
	out := &response{headers: upstreamResponseHeaders(resp, time.Since(sent))}
	finish := func() {
		rt.stop()
		resp.Body.Close()
		ucancel(nil)
	}
	if resp.ContentLength == 0 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || upReq.Method == http.MethodHead {
		finish()
		return out, nil
	}
	out.body = &upstreamBody{readerBody: readerBody{s: s, r: resp.Body, mapErr: func(error) error {
		return errStreamReset // timeout or upstream reset after headers: Envoy resets the stream
	}}, finish: finish}
	s.onDone(finish)
	return out, nil
}

// routeTimer is the route timeout: from the end of the request to the end
// of the response (Envoy's global route timeout); 0 disables it.
type routeTimer struct {
	d      time.Duration
	cancel context.CancelCauseFunc
	mu     sync.Mutex // start runs on the transport's body-writing goroutine
	t      *time.Timer
	done   bool
}

func (r *routeTimer) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.d > 0 && r.t == nil && !r.done {
		r.t = time.AfterFunc(r.d, func() { r.cancel(errRouteTimeout) })
	}
}

func (r *routeTimer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	if r.t != nil {
		r.t.Stop()
	}
}

type upstreamBody struct {
	readerBody
	finish func()
}

func (b *upstreamBody) next(ctx context.Context) ([]byte, bool, error) {
	chunk, eof, err := b.readerBody.next(ctx)
	if eof || err != nil {
		b.finish()
	}
	return chunk, eof, err
}

// upstreamRequest renders the filtered request for the upstream: the
// route's prefix and host rewrites, hop-by-hop headers dropped, chunked
// encoding when no content-length survived the filters.
func (s *stream) upstreamRequest(ctx context.Context, c *cluster, req *request, onEOF func()) (*http.Request, *bodyReader) {
	h := req.headers
	path := h.value(":path")
	if rw := s.route.prefixRewrite; rw != nil {
		matched := s.route.prefix
		if s.route.isExact {
			matched = s.route.exactPath
		}
		h.set("x-envoy-original-path", path)
		path = *rw + strings.TrimPrefix(path, matched)
		h.set(":path", path)
	}
	if s.route.hostRewrite != "" {
		h.set(":authority", s.route.hostRewrite)
	}
	if s.route.timeout > 0 {
		h.set("x-envoy-expected-rq-timeout-ms", strconv.FormatInt(s.route.timeout.Milliseconds(), 10))
	}
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	p, q, _ := strings.Cut(path, "?")
	u := &url.URL{Scheme: scheme, Host: c.address(), Opaque: p, RawQuery: q}
	upReq := (&http.Request{Method: h.value(":method"), URL: u, Host: h.value(":authority"), Header: http.Header{},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(ctx)
	for _, e := range h.entries {
		if isPseudo(e.key) || hopByHop[e.key] || e.key == "content-length" || e.key == "host" {
			continue
		}
		upReq.Header.Add(e.key, e.value)
	}
	if !h.has("user-agent") {
		upReq.Header["User-Agent"] = []string{""} // Go would add its own; Envoy adds none
	}
	if req.body == nil {
		return upReq, nil
	}
	br := &bodyReader{ctx: ctx, src: req.body, onEOF: onEOF}
	upReq.Body = io.NopCloser(br)
	upReq.ContentLength = -1
	if cl, err := strconv.ParseInt(h.value("content-length"), 10, 64); err == nil && cl >= 0 {
		upReq.ContentLength = cl
		if cl == 0 {
			upReq.Body = http.NoBody
		}
	}
	return upReq, br
}

func upstreamResponseHeaders(resp *http.Response, took time.Duration) *headerMap {
	h := newHeaderMap(":status", strconv.Itoa(resp.StatusCode))
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if hopByHop[lk] {
			continue
		}
		for _, v := range resp.Header[k] {
			h.add(lk, v)
		}
	}
	h.set("x-envoy-upstream-service-time", strconv.FormatInt(took.Milliseconds(), 10))
	return h
}

// upstreamFailure is Envoy's 503 for an upstream that could not be reached
// or reset before sending headers.
func upstreamFailure(err error) *localReply {
	reason := "connection termination"
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		reason = "connection failure"
	}
	return newLocalReply(http.StatusServiceUnavailable,
		"upstream connect error or disconnect/reset before headers. reset reason: "+reason, "upstream_reset_before_response_started")
}
