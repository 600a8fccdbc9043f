package standin

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// stream is one HTTP request/response exchange, like Envoy's ActiveStream.
type stream struct {
	p        *Proxy
	al       *activeListener
	hcm      *hcmConfig
	id       uint64
	start    time.Time
	remote   netip.AddrPort
	local    netip.AddrPort
	protocol string
	vhost    *virtualHost
	route    *route

	// decoderLimit is the request buffer limit (ext_authz lowers it to
	// max_request_bytes); encoderLimit bounds buffered responses.
	decoderLimit  int
	encoderLimit  int
	bytesReceived atomic.Int64
	idle          *idleTimer
	headersSent   atomic.Bool

	metaMu sync.Mutex
	meta   map[string]*structpb.Struct // dynamic metadata by namespace

	cleanups []func() // run when the stream ends, however it ends

	// abort resets the stream from outside its goroutine (an ext_proc
	// stream that failed while no message was outstanding).
	abort func(cause error)
}

func (s *stream) onDone(f func()) { s.cleanups = append(s.cleanups, f) }

func (p *Proxy) serveStream(w http.ResponseWriter, r *http.Request, al *activeListener) {
	p.stats.update(func(s *Stats) { s.Requests++ })
	ctx, cancel := context.WithCancelCause(r.Context())
	s := &stream{
		p: p, al: al, hcm: al.lc.hcm,
		id:           mrand.Uint64(),
		start:        time.Now(),
		protocol:     protocolName(r),
		decoderLimit: al.lc.bufferLimit,
		encoderLimit: al.lc.bufferLimit,
		meta:         map[string]*structpb.Struct{},
	}
	defer func() {
		cancel(nil)
		for _, f := range s.cleanups {
			f()
		}
	}()
	s.remote, _ = netip.ParseAddrPort(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local, _ = netip.ParseAddrPort(la.String())
	}
	rc := http.NewResponseController(w)
	s.idle = newIdleTimer(s.hcm.streamIdleTimeout, func() {
		cancel(errStreamIdleTimeout)
		// Unblock a handler stuck reading the request; once the response
		// started, also one stuck writing it (the stream is reset anyway).
		_ = rc.SetReadDeadline(time.Now())
		if s.headersSent.Load() {
			_ = rc.SetWriteDeadline(time.Now())
		}
	})
	defer s.idle.stop()
	s.abort = func(cause error) {
		cancel(cause)
		_ = rc.SetReadDeadline(time.Now())
		if s.headersSent.Load() {
			_ = rc.SetWriteDeadline(time.Now())
		}
	}

	headers, lr := s.requestHeaders(r)
	if lr != nil {
		// Rejected by the HCM before any filter chain exists: a direct reply.
		s.write(ctx, w, lr.build(p))
		return
	}
	s.selectRoute(headers)
	req := &request{headers: headers}
	if !requestEndsWithHeaders(r) {
		req.body = &readerBody{s: s, r: r.Body, onRead: func(n int) { s.bytesReceived.Add(int64(n)) }}
	}
	s.run(ctx, w, req)
}

func protocolName(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "HTTP/2"
	case r.ProtoMinor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

func requestEndsWithHeaders(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0)
}

// hopByHop are connection-level headers Envoy's HCM removes before any
// filter sees the request.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "upgrade": true,
}

// requestHeaders builds the header map filters see: pseudo-headers first,
// lower-case names, hop-by-hop headers removed, the normalised path, then
// x-forwarded-proto and x-request-id as the HCM adds them.
func (s *stream) requestHeaders(r *http.Request) (*headerMap, *localReply) {
	rawPath, authority := r.RequestURI, r.Host
	if r.URL.IsAbs() {
		rawPath, authority = r.URL.RequestURI(), r.URL.Host
	}
	if authority == "" || strings.ContainsRune(rawPath, '#') {
		return nil, newLocalReply(http.StatusBadRequest, "", "invalid_request")
	}
	if up := strings.ToLower(r.Header.Get("Upgrade")); up != "" && up != "h2c" {
		// No upgrade_configs in the HCM: Envoy refuses to build a filter chain.
		return nil, newLocalReply(http.StatusForbidden, "", "upgrade_failed")
	}
	path, query, hasQuery := strings.Cut(rawPath, "?")
	path, err := normalizeRequestPath(path, s.hcm)
	if err != nil {
		return nil, newLocalReply(http.StatusBadRequest, "", "path_normalization_failed")
	}
	if hasQuery {
		path += "?" + query
	}
	h := newHeaderMap(":authority", authority, ":path", path, ":method", r.Method, ":scheme", "http")
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if hopByHop[lk] || lk == "host" || lk == "http2-settings" {
			continue
		}
		if lk == "expect" && strings.EqualFold(r.Header.Get(k), "100-continue") {
			continue // the HCM answers 100-continue itself and drops the header
		}
		for _, v := range r.Header[k] {
			if lk == "te" {
				if !strings.Contains(strings.ToLower(v), "trailers") {
					continue
				}
				v = "trailers"
			}
			h.add(lk, v)
		}
	}
	if h.overLimits() {
		return nil, newLocalReply(http.StatusRequestHeaderFieldsTooLarge, "", "header_overflow")
	}
	if !h.has("x-forwarded-proto") {
		h.add("x-forwarded-proto", "http")
	}
	if s.hcm.generateRequestID && h.value("x-request-id") == "" {
		h.set("x-request-id", newUUIDv4())
	}
	return h, nil
}

func (s *stream) selectRoute(h *headerMap) {
	vh := s.al.routes.selectVirtualHost(h.value(":authority"))
	if vh == nil {
		return
	}
	s.vhost = vh
	s.route = vh.matchRoute(h.value(":path"))
	if s.route != nil && s.route.idleTimeout != nil {
		s.idle.setTimeout(*s.route.idleTimeout)
	}
}

func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// setMetadata merges fields into a dynamic metadata namespace, as Envoy's
// StreamInfo::setDynamicMetadata does.
func (s *stream) setMetadata(ns string, fields *structpb.Struct) {
	if fields == nil || len(fields.GetFields()) == 0 {
		return
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	cur := s.meta[ns]
	if cur == nil {
		cur = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		s.meta[ns] = cur
	}
	for k, v := range fields.GetFields() {
		cur.Fields[k] = v
	}
}

func (s *stream) metadata(ns string) (*structpb.Struct, bool) {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	m, ok := s.meta[ns]
	if !ok {
		return nil, false
	}
	return cloneStruct(m), true
}
