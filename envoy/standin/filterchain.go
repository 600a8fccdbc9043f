package standin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// streamFilter is one HTTP filter's per-stream instance.
type streamFilter interface {
	// decode processes the request (headers and, possibly, the body it
	// buffers or wraps); a local reply stops decoding.
	decode(ctx context.Context, req *request) *localReply
	// encode processes the response; a local reply returned here replaces
	// the response directly (Envoy's direct local reply: response headers
	// exist but were not sent).
	encode(ctx context.Context, resp *response) *localReply
	// done releases side streams when the HTTP stream ends.
	done()
}

// run drives the filter chain: decoders in listed order, the router, then
// encoders in reverse order. A local reply from a decoder filter or the
// router traverses every encoder filter (so ext_proc sees response_headers
// it never saw request_headers for); one from an encoder filter is sent
// directly.
func (s *stream) run(ctx context.Context, w http.ResponseWriter, req *request) {
	filters := make([]streamFilter, 0, len(s.hcm.filters))
	for _, fc := range s.hcm.filters {
		filters = append(filters, fc.newStreamFilter(s))
	}
	defer func() {
		for _, f := range filters {
			f.done()
		}
	}()
	resp, lr := s.decodeChain(ctx, filters, req)
	if s.abandoned(ctx, w) {
		return
	}
	if lr != nil {
		resp = lr.build(s.p)
	}
	if lr := s.encodeChain(ctx, filters, resp); lr != nil {
		if s.abandoned(ctx, w) {
			return
		}
		resp = lr.build(s.p)
	}
	if s.abandoned(ctx, w) {
		return
	}
	s.write(ctx, w, resp)
}

func (s *stream) decodeChain(ctx context.Context, filters []streamFilter, req *request) (*response, *localReply) {
	for _, f := range filters {
		if lr := f.decode(ctx, req); lr != nil {
			return nil, lr
		}
	}
	return s.p.routeUpstream(ctx, s, req)
}

func (s *stream) encodeChain(ctx context.Context, filters []streamFilter, resp *response) *localReply {
	for i := len(filters) - 1; i >= 0; i-- {
		if lr := filters[i].encode(ctx, resp); lr != nil {
			return lr
		}
	}
	return nil
}

// abandoned handles a stream whose context ended before a response was
// written: an idle timeout answers 408 directly, a gone client gets nothing.
func (s *stream) abandoned(ctx context.Context, w http.ResponseWriter) bool {
	if ctx.Err() == nil {
		return false
	}
	if errors.Is(context.Cause(ctx), errStreamIdleTimeout) && !s.headersSent.Load() {
		s.writeHeaders(w, newLocalReply(http.StatusRequestTimeout, "stream timeout", "stream_idle_timeout").build(s.p))
		_, _ = w.Write([]byte("stream timeout"))
	}
	return true
}

// write sends the response downstream: headers at once (flushed, so SSE
// and long polls start immediately), then each body chunk as it comes.
// A body error after the headers went out resets the stream.
func (s *stream) write(ctx context.Context, w http.ResponseWriter, resp *response) {
	s.writeHeaders(w, resp)
	if resp.body == nil {
		return
	}
	rc := http.NewResponseController(w)
	for {
		chunk, eof, err := resp.body.next(ctx)
		if len(chunk) > 0 {
			if _, werr := w.Write(chunk); werr != nil {
				s.reset("downstream write failed")
			}
			_ = rc.Flush()
			s.idle.touch()
		}
		if err != nil {
			s.reset(err.Error())
		}
		if eof {
			return
		}
	}
}

func (s *stream) writeHeaders(w http.ResponseWriter, resp *response) {
	h := w.Header()
	status, err := strconv.Atoi(resp.headers.value(":status"))
	if err != nil || status < 200 || status > 999 {
		status = http.StatusInternalServerError
	}
	hasType := false
	for _, e := range resp.headers.entries {
		if isPseudo(e.key) || hopByHop[e.key] || e.key == "server" {
			continue
		}
		hasType = hasType || e.key == "content-type"
		h.Add(e.key, e.value)
	}
	h.Set("Server", "envoy")
	if !hasType {
		h["Content-Type"] = nil // no sniffing: Envoy never invents a content-type
	}
	w.WriteHeader(status)
	_ = http.NewResponseController(w).Flush()
	s.headersSent.Store(true)
}

// reset aborts the HTTP stream the way Envoy resets it: on HTTP/1 the
// connection closes mid-body, on HTTP/2 the stream gets RST_STREAM.
// http.ErrAbortHandler is net/http's only way to do this from a handler.
func (s *stream) reset(reason string) {
	s.p.stats.update(func(st *Stats) { st.StreamResets++ })
	s.p.log.Debug("stream reset", "stream", s.id, "reason", reason)
	panic(http.ErrAbortHandler)
}

func cloneStruct(m *structpb.Struct) *structpb.Struct {
	return proto.Clone(m).(*structpb.Struct)
}
