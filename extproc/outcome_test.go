package extproc

import (
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/outguard"
)

// TestOutcomeEvent: one exchange leaves one outcome event on a real spool,
// linked to the decision by id and call hash, listing what the guard did
// (never the secret), with the hash of what the agent received.
func TestOutcomeEvent(t *testing.T) {
	t.Parallel()
	sp, err := audit.OpenSpool(audit.SpoolOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	c, _ := startServer(t, withGuard(t, outguard.Config{}), func(s *Server) { s.env.recorder = sp })
	msgs := []*extprocv3.ProcessingRequest{
		msgRequestHeaders("d-30", `"c-1"`),
		msgRequestBody("d-30", toolCall),
		msgResponseHeaders(false, ":status", "200", "content-type", "application/json"),
		msgResponseBody(textResult(`"c-1"`, secretsText), true),
	}
	resps := drive(t, c, msgs)
	forwarded := resps[3].GetResponseBody().GetResponse().GetBodyMutation().GetBody()

	var evs []audit.Event
	deadline := time.Now().Add(5 * time.Second)
	for len(evs) == 0 && time.Now().Before(deadline) {
		cur := sp.Cursor(0)
		recs, err := cur.Next(10)
		cur.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ev, _, err := audit.ParseEvent(r.Canonical)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(evs) != 1 {
		t.Fatalf("%d outcome events", len(evs))
	}
	ev := evs[0]
	wantHash, _ := audit.ContentHash(forwarded)
	wantCall, _ := audit.CallHash(audit.CallInput{Server: ev.Server, Tool: "read_chart", Arguments: []byte(`{"patient":"p-1"}`),
		User: ev.User, Agent: ev.Agent, Tenant: ev.Tenant, Task: ev.Task})
	if ev.Kind != audit.KindOutcome || ev.DecisionID != "d-30" || ev.Tool != "read_chart" || ev.RequestID != `"c-1"` ||
		ev.OutputHash != wantHash || ev.CallHash != wantCall || ev.Outcome != "allow" || ev.ErrorType != "" {
		t.Fatalf("outcome event %+v", ev)
	}
	joined := strings.Join(ev.Redactions, " ")
	for _, want := range []string{"redaction/secret/aws-access-token@result.content[0].text:mask", "redaction/card/", "redaction/email/"} {
		if !strings.Contains(joined, want) {
			t.Errorf("redactions %v lack %q", ev.Redactions, want)
		}
	}
	for _, s := range []string{awsKey, ghToken, card, email} {
		if strings.Contains(joined, s) {
			t.Fatalf("redactions carry the secret %q", s)
		}
	}
}
