package audit

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/principal"
)

// sampleDecision is a decision as extauthz makes it.
func sampleDecision(i int) decision.Decision {
	return decision.Decision{
		ID: fmt.Sprintf("dec-%06d", i), Outcome: decision.Allow, Reason: decision.ReasonAllowed,
		RegistryVersion: "reg-7f3a", PolicyRevision: "pol-91bc", Server: "ehr", Method: "tools/call", Tool: "read_chart",
		Principal: principal.Principal{Issuer: "http://127.0.0.1:9400", User: "dr-alice", Agent: "note-summarizer",
			Tenant: []string{"clinic-a", "clinic-b", "bank-c"}[i%3], Task: "task-42",
			Chain: []principal.Actor{{Subject: "note-summarizer"}, {Subject: "orchestrator"}}},
		PolicyReasons: []string{"tier1_read"},
	}
}

func sampleEvent(t testing.TB, i int) *Event {
	t.Helper()
	ev, err := FromDecision(sampleDecision(i), Extras{
		Time:      time.Date(2026, 3, 10, 3, 14, 0, i*1000, time.UTC),
		Arguments: []byte(fmt.Sprintf(`{"patient_id":"p-%04d"}`, i)), RequestID: fmt.Sprint(i),
		Latency: 87 * time.Microsecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &ev
}

func openSpool(t testing.TB, dir string, opts SpoolOptions) *Spool {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	s, err := OpenSpool(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t testing.TB, s *Spool, from, n int) []*Event {
	t.Helper()
	var evs []*Event
	for i := from; i < from+n; i++ {
		ev := sampleEvent(t, i)
		if err := s.Append(ev); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// testKey is one instance's signing key and the verifier list for it.
type testKey struct {
	signer    note.Signer
	verifiers note.Verifiers
	vkey      string
}

func newTestKey(t testing.TB, instance string) testKey {
	t.Helper()
	skey, vkey, err := GenerateKey(Origin(instance))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVerifiers([]byte(vkey))
	if err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, verifiers: v, vkey: vkey}
}

// segments lists the spool's segment files in order.
func segments(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, segPrefix+"*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// entriesOf reads the whole spool back as verifier entries.
func entriesOf(t testing.TB, s *Spool, from uint64) []Entry {
	t.Helper()
	cur := s.Cursor(from)
	defer cur.Close()
	var out []Entry
	for {
		recs, err := cur.Next(1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, Entry{Raw: r.Canonical, Where: fmt.Sprintf("spool seq %d", r.Seq), Stream: "spool"})
		}
	}
}
