package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestSpool_AppendChainsAndReopens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-1"})
	evs := appendN(t, s, 0, 5)
	tree := NewTree()
	for i, ev := range evs {
		if ev.Seq != uint64(i) || ev.InstanceID != "gw-1" {
			t.Fatalf("event %d got seq %d instance %q", i, ev.Seq, ev.InstanceID)
		}
		if i > 0 && ev.PrevHash != hex.EncodeToString(tree.levels[0][i-1]) {
			t.Fatalf("event %d prevHash %s does not chain", i, ev.PrevHash)
		}
		c, err := ev.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		tree.Append(LeafHash(c))
	}
	size, root, err := s.Head()
	if err != nil || size != 5 {
		t.Fatalf("head %d, %v", size, err)
	}
	if want, _ := tree.Root(5); !bytes.Equal(root, want) {
		t.Fatal("spool head root differs from the tree of its events")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(sampleEvent(t, 9)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	s2 := openSpool(t, dir, SpoolOptions{})
	st := s2.Stats()
	if s2.InstanceID() != "gw-1" || st.Next != 5 || st.Recovered != 5 || st.TruncatedRecords != 0 {
		t.Fatalf("reopened: instance %q stats %+v", s2.InstanceID(), st)
	}
	more := appendN(t, s2, 5, 1)
	if more[0].Seq != 5 || more[0].PrevHash != hex.EncodeToString(tree.levels[0][4]) {
		t.Fatalf("after reopen: seq %d prev %s", more[0].Seq, more[0].PrevHash)
	}
	if _, err := OpenSpool(SpoolOptions{Dir: t.TempDir() + "/x", InstanceID: "a"}); err != nil {
		t.Fatal(err)
	}
}

func TestSpool_RefusesAnotherInstancesDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-1"})
	appendN(t, s, 0, 1)
	s.Close()
	if s2, err := OpenSpool(SpoolOptions{Dir: dir, InstanceID: "gw-2"}); err == nil {
		s2.Close()
		t.Fatal("opened gw-1's spool as gw-2")
	}
	for _, bad := range []string{"gw 1", "gw+1", "a/b", strings.Repeat("x", 129)} {
		if s3, err := OpenSpool(SpoolOptions{Dir: t.TempDir(), InstanceID: bad}); err == nil {
			s3.Close()
			t.Errorf("instance id %q accepted", bad)
		}
	}
}

func TestSpool_GroupCommit(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-gc"})
	const writers, each = 32, 40
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ev := sampleEvent(t, w*each+i)
				if err := s.Append(ev); err != nil {
					t.Error(err)
					return
				}
				seqs <- ev.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := make([]bool, writers*each)
	for seq := range seqs {
		if seq >= uint64(len(seen)) || seen[seq] {
			t.Fatalf("seq %d out of range or assigned twice", seq)
		}
		seen[seq] = true
	}
	st := s.Stats()
	if st.Appended != writers*each || st.Durable != writers*each {
		t.Fatalf("stats %+v", st)
	}
	// Concurrent appenders share fsyncs: far fewer syncs than events.
	if st.Syncs*2 > st.Appended {
		t.Errorf("%d fsyncs for %d appends: no group commit", st.Syncs, st.Appended)
	}
	t.Logf("%d appends, %d fsyncs", st.Appended, st.Syncs)
	if r := Verify(entriesOf(t, s, 0), nil, nil); !r.OK() {
		t.Fatalf("spooled log does not verify: %+v", r.Problems)
	}
}

func TestSpool_FullThenAckFreesSpace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-full", MaxBytes: 32 << 10, SegmentBytes: 4 << 10})
	n := 0
	for ; n < 1000; n++ {
		err := s.Append(sampleEvent(t, n))
		if errors.Is(err, ErrSpoolFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 || n == 1000 {
		t.Fatalf("spool accepted %d events before full", n)
	}
	st := s.Stats()
	if st.Rejected != 1 || st.Next != uint64(n) || st.Bytes > 32<<10 {
		t.Fatalf("after full: %+v", st)
	}
	if err := s.Ack(uint64(n)); err == nil {
		t.Fatal("ack beyond the durable log accepted")
	}
	before := len(segments(t, dir))
	if err := s.Ack(uint64(n - 1)); err != nil {
		t.Fatal(err)
	}
	if after := len(segments(t, dir)); after != 1 || before < 3 {
		t.Fatalf("segments %d before ack, %d after; want several, then only the active one", before, after)
	}
	ev := sampleEvent(t, n)
	if err := s.Append(ev); err != nil || ev.Seq != uint64(n) {
		t.Fatalf("append after ack: seq %d, %v", ev.Seq, err)
	}
	s.Close()
	s2 := openSpool(t, dir, SpoolOptions{})
	if st := s2.Stats(); st.Shipped != uint64(n) || st.Next != uint64(n+1) {
		t.Fatalf("reopened after ack: %+v", st)
	}
	if got := entriesOf(t, s2, s2.Stats().Shipped); len(got) != 1 {
		t.Fatalf("unshipped after reopen: %d events, want 1", len(got))
	}
}

func TestSpool_FailsClosedOnChainBreak(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-x"})
	appendN(t, s, 0, 3)
	s.Close()
	// Rewrite the middle record with a valid frame but different content:
	// not a torn write but tampering, which must stop the spool.
	path := segments(t, dir)[0]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := splitFrames(t, data)
	recs[2] = bytes.Replace(recs[2], []byte("read_chart"), []byte("wipe_chart"), 1)
	var out []byte
	for _, r := range recs {
		out = appendFrame(out, r)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if s2, err := OpenSpool(SpoolOptions{Dir: dir}); err == nil {
		s2.Close()
		t.Fatal("spool with a rewritten record opened")
	}
}

func splitFrames(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	r := bytes.NewReader(data)
	for {
		rec, err := readFrame(r, nil)
		if err != nil {
			return out
		}
		out = append(out, rec)
	}
}

func TestSpool_AppendAsyncBecomesDurable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{InstanceID: "gw-async"})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if err := s.AppendAsync(sampleEvent(t, w*50+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for s.Stats().Durable != 200 { // no Append waits: the background fsync must get there
		select {
		case <-t.Context().Done():
			t.Fatal("async events never became durable")
		case <-s.Durable():
		}
	}
	appendN(t, s, 200, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAsync(sampleEvent(t, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("async append after close: %v", err)
	}
	s2 := openSpool(t, dir, SpoolOptions{})
	if r := Verify(entriesOf(t, s2, 0), nil, nil); !r.OK() || r.Instances[0].Contiguous != 201 {
		t.Fatalf("after reopen: %+v", r)
	}
}

func TestSpool_EventLargerThanASegment(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-big", SegmentBytes: 512})
	for i := range 3 {
		ev := sampleEvent(t, i)
		ev.ContextRefs = []string{strings.Repeat("r", 2000)}
		if err := s.Append(ev); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if st := s.Stats(); st.Segments != 3 || st.Durable != 3 {
		t.Fatalf("stats %+v; want one oversized event per segment", st)
	}
}

// The shipper encodes attributes from the spool's in-memory copy of recent
// events; a caller reusing its slices after Append must not change them.
func TestSpool_RecentEventsAreCopies(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-copy"})
	ev := sampleEvent(t, 1)
	if err := s.Append(ev); err != nil {
		t.Fatal(err)
	}
	ev.Chain[0], ev.PolicyReasons[0] = "mallory", "forged"
	recs, err := s.Cursor(0).Next(10)
	if err != nil || len(recs) != 1 || recs[0].Event == nil {
		t.Fatalf("records %+v, %v", recs, err)
	}
	value, err := OTLPRecord(recs[0].Event, recs[0].Canonical)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseOTLPRecord(value); err != nil {
		t.Fatalf("attributes from the cached event disagree with the body: %v", err)
	}
}
