package audit

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestVerify_TamperedTopic ships an honest log, then writes forged records
// straight into the events topic, as someone with produce rights could, and
// checks verify names each one.
func TestVerify_TamperedTopic(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := newBroker(t)
	key := newTestKey(t, "gw-topic")
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-topic"})
	sh := runShipper(t, s, b, key)
	sent := appendConcurrently(t, s, 0, 30)
	waitFor(t, ctx, "shipped", func() bool { return s.Stats().Shipped == 30 })
	sh.Checkpoint()
	waitFor(t, ctx, "checkpoint", func() bool { return publishedSize(ctx, b, key) == 30 })
	entries, cps, _ := readAll(t, ctx, b, sent)
	verifyTopics(t, entries, cps, key, 30)

	// A SIEM-visible attribute changed while the hashed body is intact.
	_, canon, err := ParseEvent(entries[3].Raw)
	if err != nil {
		t.Fatal(err)
	}
	ev, _, _ := ParseEvent(canon)
	value, err := OTLPRecord(&ev, canon)
	if err != nil {
		t.Fatal(err)
	}
	relabelled := bytes.Replace(value, []byte(`"gen_ai.tool.name","value":{"stringValue":"read_chart"}`),
		[]byte(`"gen_ai.tool.name","value":{"stringValue":"list_charts"}`), 1)
	if bytes.Equal(relabelled, value) {
		t.Fatal("did not relabel")
	}
	// A well-formed event that claims an existing seq.
	forged := ev
	forged.ID, forged.Outcome = NewEventID(), "deny"
	fc, err := forged.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	forgedValue, err := OTLPRecord(&forged, fc)
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.addr), Topic: testTopic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx,
		kafka.Message{Key: []byte("x"), Value: relabelled},
		kafka.Message{Key: []byte("x"), Value: []byte(`{"resourceLogs":[]}`)},
		kafka.Message{Key: []byte("x"), Value: forgedValue},
	); err != nil {
		t.Fatal(err)
	}
	entries, err = ReadEvents(ctx, []string{b.addr}, testTopic)
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(entries, cps, key.verifiers)
	// The relabelled copy and the forged claim of seq are both changes; the
	// forged record, appended last, also breaks its partition's order.
	assertProblems(t, r, []wantProblem{{ProblemChanged, int64(ev.Seq)}, {ProblemMalformed, -1},
		{ProblemReordered, int64(ev.Seq)}})
	if n := countKind(r, ProblemChanged); n != 2 {
		t.Errorf("%d changed_event problems, want 2 (relabelled attributes, second claim of a seq)", n)
	}
	t.Logf("%s", problems(r.Problems))
}

func countKind(r Report, k ProblemKind) int {
	n := 0
	for _, p := range r.Problems {
		if p.Kind == k {
			n++
		}
	}
	return n
}
