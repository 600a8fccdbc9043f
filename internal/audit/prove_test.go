package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestProve_InclusionAgainstCheckpoint(t *testing.T) {
	t.Parallel()
	h := newHonestLog(t)
	entries, cps, err := ReadExport(strings.NewReader(exportText(t, h.lines)))
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{0, 7, 8, 13, 19} {
		var ev Event
		if err := json.Unmarshal(entries[seq].Raw, &ev); err != nil {
			t.Fatal(err)
		}
		p, err := Prove(entries, cps, h.trusted, ev.ID)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if p.LeafIndex != seq || p.TreeSize != 20 {
			t.Fatalf("seq %d: proof at index %d size %d, want the size-20 checkpoint", seq, p.LeafIndex, p.TreeSize)
		}
		// The proof travels as JSON to the auditor.
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got InclusionProof
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(got, h.trusted); err != nil {
			t.Fatalf("seq %d: honest proof rejected: %v", seq, err)
		}
	}

	var ev Event
	if err := json.Unmarshal(entries[5].Raw, &ev); err != nil {
		t.Fatal(err)
	}
	if _, err := Prove(entries, cps, h.trusted, "no-such-event"); err == nil {
		t.Fatal("proof of an absent event")
	}
	if _, err := Prove(entries[:10], cps[:1], h.trusted, ev.ID); err != nil {
		t.Fatalf("proof against the first checkpoint (size 8): %v", err)
	}
	var late Event
	if err := json.Unmarshal(entries[9].Raw, &late); err != nil {
		t.Fatal(err)
	}
	if _, err := Prove(entries[:10], cps[:1], h.trusted, late.ID); err == nil {
		t.Fatal("proof of an event no checkpoint covers")
	}
}

func TestVerifyInclusion_RejectsTampering(t *testing.T) {
	t.Parallel()
	h := newHonestLog(t)
	entries, cps, err := ReadExport(strings.NewReader(exportText(t, h.lines)))
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(entries[5].Raw, &ev); err != nil {
		t.Fatal(err)
	}
	good, err := Prove(entries, cps, h.trusted, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []struct {
		name string
		edit func(p *InclusionProof)
	}{
		{"changed event", func(p *InclusionProof) {
			p.Event = bytes.Replace(p.Event, []byte("read_chart"), []byte("wipe_chart"), 1)
		}},
		{"another event's proof", func(p *InclusionProof) { p.Hashes[0] = bytes.Repeat([]byte{1}, 32) }},
		{"wrong leaf index", func(p *InclusionProof) { p.LeafIndex = 6 }},
		{"forged checkpoint", func(p *InclusionProof) {
			p.Checkpoint = strings.Replace(p.Checkpoint, "\n20\n", "\n21\n", 1)
		}},
		{"untrusted key", func(p *InclusionProof) {
			rogue := newTestKey(t, "gw-v")
			p.Checkpoint = string(h.checkpointAt(t, rogue.signer, 20, h.lines))
		}},
	}
	for _, tc := range tampered {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := good
			p.Hashes = append([][]byte(nil), good.Hashes...)
			p.Event = append([]byte(nil), good.Event...)
			tc.edit(&p)
			if err := VerifyInclusion(p, h.trusted); err == nil {
				t.Fatal("tampered proof verified")
			}
		})
	}

}

func TestTree_MatchesReferenceRoots(t *testing.T) {
	t.Parallel()
	// RFC 6962 test vector: the empty tree and the tree of the single empty leaf.
	tree := NewTree()
	if r, _ := tree.Root(0); b64(r) != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Fatalf("empty root %s", b64(r))
	}
	tree.Append(LeafHash(nil))
	if r, _ := tree.Root(1); b64(r) != "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=" {
		t.Fatalf("root of one empty leaf %s", b64(r))
	}
	for i := 1; i < 70; i++ {
		tree.Append(LeafHash([]byte{byte(i)}))
	}
	for size := uint64(1); size <= 70; size++ {
		want := referenceRoot(t, 0, size)
		got, err := tree.Root(size)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("root at %d differs from the recursive definition", size)
		}
		for old := uint64(1); old < size; old += 7 {
			p, err := tree.ConsistencyProof(old, size)
			if err != nil {
				t.Fatal(err)
			}
			r1, _ := tree.Root(old)
			if err := VerifyConsistency(old, size, p, r1, got); err != nil {
				t.Fatalf("consistency %d→%d: %v", old, size, err)
			}
		}
	}
}

// referenceRoot is RFC 6962's MTH, computed the slow, obvious way.
func referenceRoot(t *testing.T, lo, hi uint64) []byte {
	if hi-lo == 1 {
		if lo == 0 {
			return LeafHash(nil)
		}
		return LeafHash([]byte{byte(lo)})
	}
	k := uint64(1)
	for k*2 < hi-lo {
		k *= 2
	}
	return hasher.HashChildren(referenceRoot(t, lo, lo+k), referenceRoot(t, lo+k, hi))
}
