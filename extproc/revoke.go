package extproc

import (
	"sync"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/mcp"
)

// reasonRevoked ends exchanges of a revoked user, agent or session.
const reasonRevoked = "revoked"

// liveStream is one ext_proc stream that carries an exchange, as the
// revocation hook sees it.
type liveStream struct {
	user, agent, session string
	// revoked receives the reason once; the stream's loop ends the
	// exchange on it.
	revoked chan string
}

// streams are the live exchanges of this server, by principal.
type streams struct {
	mu sync.Mutex
	m  map[*liveStream]struct{}
}

func (s *streams) add(ls *liveStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[*liveStream]struct{}{}
	}
	s.m[ls] = struct{}{}
}

func (s *streams) remove(ls *liveStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, ls)
}

// EndStreams ends every live exchange whose principal match accepts: an
// open SSE stream gets an MCP error event and no more data, a call still
// waiting for its upstream is answered with an MCP error. It returns how
// many exchanges were told. Other principals' exchanges are not touched.
func (s *Server) EndStreams(match func(user, agent, session string) bool) int {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	n := 0
	for ls := range s.live.m {
		if match(ls.user, ls.agent, ls.session) {
			select {
			case ls.revoked <- reasonRevoked:
				n++
			default: // already told
			}
		}
	}
	return n
}

// revokedAnswer answers the message that arrived after a revocation so
// the client sees an MCP error rather than a reset: an SSE chunk becomes
// an error event (later chunks are dropped),
// or, before the response started, an immediate MCP error. ok is false
// when the message cannot carry the error (the stream is then ended).
func revokedAnswer(e *env, st state, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, state, bool) {
	st.x.notes.Blocked = reasonRevoked
	switch r := req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_ResponseBody:
		if st.respBody != bodySSE || st.sseFailed {
			return nil, st, false
		}
		// Nothing that arrived after the revocation is forwarded: this
		// chunk is replaced by the error event (an event the upstream had
		// half sent is dropped with it).
		in := r.ResponseBody.GetBody()
		out := sseErrorEvent(st.x, reasonRevoked, "Access was revoked; this stream is closed")
		st.sseFailed, st.sse = true, nil
		finish(e, &st, outcome{})
		return responseBodyResponse(replaceChunk(in, out)), st, true
	case *extprocv3.ProcessingRequest_ResponseHeaders, *extprocv3.ProcessingRequest_RequestBody:
		finish(e, &st, outcome{})
		body := mcp.ErrorBody(st.x.RPCID, mcp.CodePolicyDenied, "Access was revoked; the call was not completed",
			&mcp.ErrorData{Reason: reasonRevoked, DecisionID: st.x.DecisionID})
		return immediateJSON(403, body, "actiongate_revoked"), st, true
	}
	return nil, st, false
}
