package extproc

import (
	"context"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/decision"
)

// openSSE starts one exchange for user whose response is an event stream
// and returns the live client stream after the first event went through.
func openSSE(t *testing.T, c extprocv3.ExternalProcessorClient, user string) extprocv3.ExternalProcessor_ProcessClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	s, err := c.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := msgRequestHeaders("d-"+user, `"c-1"`)
	f := hdr.MetadataContext.FilterMetadata[authzNamespace].Fields
	f[decision.MetaUser], f[decision.MetaAgent] = structpb.NewStringValue(user), structpb.NewStringValue("inbox-assistant")
	for _, m := range []*extprocv3.ProcessingRequest{hdr, msgRequestBody("d-"+user, toolCall),
		msgResponseHeaders(false, ":status", "200", "content-type", "text/event-stream"),
		msgResponseBody("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n", false)} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestEndStreams: revoking a user ends that user's open SSE stream with an
// MCP error event (nothing after it reaches the client) and leaves another
// user's stream alone; an idle revoked stream is ended by failing the
// ext_proc stream after a short grace.
func TestEndStreams(t *testing.T) {
	t.Parallel()
	var srv *Server
	c, _ := startServer(t, func(s *Server) { srv = s })
	alice, bob := openSSE(t, c, "alice"), openSSE(t, c, "bob")
	idle := openSSE(t, c, "alice")

	if n := srv.EndStreams(func(user, _, _ string) bool { return user == "alice" }); n != 2 {
		t.Fatalf("EndStreams told %d exchanges, want alice's 2", n)
	}
	next := "data: {\"jsonrpc\":\"2.0\",\"id\":\"c-1\",\"result\":{}}\n\n"
	if err := alice.Send(msgResponseBody(next, false)); err != nil {
		t.Fatal(err)
	}
	resp, err := alice.Recv()
	if err != nil {
		t.Fatal(err)
	}
	out := string(applyChunk(t, []byte(next), resp))
	if !strings.Contains(out, `"reason":"revoked"`) || strings.Contains(out, `"result"`) {
		t.Fatalf("revoked stream forwards %q", out)
	}
	later := "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"
	if err := alice.Send(msgResponseBody(later, false)); err != nil {
		t.Fatal(err)
	}
	if resp, err := alice.Recv(); err != nil || len(applyChunk(t, []byte(later), resp)) != 0 {
		t.Fatalf("data after the error event reached the client: %v %v", resp, err)
	}

	if err := bob.Send(msgResponseBody(next, false)); err != nil {
		t.Fatal(err)
	}
	if resp, err := bob.Recv(); err != nil || string(applyChunk(t, []byte(next), resp)) != next {
		t.Fatalf("bob's stream was disturbed: %v %v", resp, err)
	}

	_, err = idle.Recv()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("idle revoked stream: %v, want the ext_proc stream failed", err)
	}
}
