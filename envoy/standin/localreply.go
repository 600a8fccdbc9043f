package standin

import (
	"errors"
	"strconv"
)

// localReply is a response Envoy generates itself (sendLocalReply).
type localReply struct {
	status  int
	body    []byte
	details string           // Envoy's response code details, for logs
	mutate  func(*headerMap) // headers a filter adds (ext_authz denied headers, ext_proc immediate headers)
}

// localReplyError carries a local reply out of a body source: a filter that
// fails while the body streams through it. Before response headers went
// downstream it becomes that reply; after, a stream reset.
type localReplyError struct{ lr *localReply }

func (e *localReplyError) Error() string {
	return "local reply " + strconv.Itoa(e.lr.status) + " (" + e.lr.details + ")"
}

var (
	errStreamReset       = errors.New("stream reset")
	errStreamIdleTimeout = errors.New("stream idle timeout")
	errRouteTimeout      = errors.New("upstream request timeout")
)

func newLocalReply(status int, body, details string) *localReply {
	return &localReply{status: status, body: []byte(body), details: details}
}

// build renders the reply as Envoy does: the filter's header mutation
// first, then content-length, and content-type: text/plain only when the
// body is non-empty and no content-type was set.
func (lr *localReply) build(p *Proxy) *response {
	status := lr.status
	if status < 200 || status > 599 {
		status = 500
	}
	h := newHeaderMap(":status", strconv.Itoa(status))
	if lr.mutate != nil {
		lr.mutate(h)
		h.set(":status", strconv.Itoa(status))
	}
	h.set("content-length", strconv.Itoa(len(lr.body)))
	if len(lr.body) > 0 && !h.has("content-type") {
		h.set("content-type", "text/plain")
	}
	p.stats.update(func(s *Stats) { s.LocalReplies[status]++ })
	p.log.Debug("local reply", "status", status, "details", lr.details)
	resp := &response{headers: h, local: true}
	if len(lr.body) > 0 {
		resp.body = &bytesBody{data: lr.body}
	}
	return resp
}

func asLocalReply(err error) (*localReply, bool) {
	var lre *localReplyError
	if errors.As(err, &lre) {
		return lre.lr, true
	}
	return nil, false
}
