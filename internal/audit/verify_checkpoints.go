package audit

import (
	"bytes"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"
)

type openedCheckpoint struct {
	Checkpoint
	where string
}

// openCheckpoints verifies every signature and groups the checkpoints by
// instance, keeping publication order.
func openCheckpoints(cps []SignedCheckpoint, known note.Verifiers, r *Report) map[string][]openedCheckpoint {
	out := map[string][]openedCheckpoint{}
	for _, sc := range cps {
		c, err := OpenCheckpoint(sc.Note, known)
		if err != nil {
			claimed := Checkpoint{Origin: claimedOrigin(sc.Note)}
			r.add(ProblemForged, claimed.InstanceID(), nil, sc.Where, "%v", err)
			continue
		}
		id := c.InstanceID()
		if id == "" {
			r.add(ProblemMalformed, "", nil, sc.Where, "checkpoint origin %q is not an ActionGate audit log", c.Origin)
			continue
		}
		out[id] = append(out[id], openedCheckpoint{c, sc.Where})
	}
	return out
}

// checkCheckpoints compares an instance's checkpoints with its events and
// with each other.
func (l *instanceLog) checkCheckpoints(cps []openedCheckpoint, r *Report) InstanceSummary {
	sum := InstanceSummary{Instance: l.id, Events: uint64(len(l.bySeq)), Contiguous: l.tree.Size(), Checkpoints: len(cps)}
	for i := 1; i < len(cps); i++ {
		if cps[i].Size < cps[i-1].Size {
			r.add(ProblemInconsistent, l.id, nil, cps[i].where,
				"checkpoint of size %d published after one of size %d: the log was rolled back", cps[i].Size, cps[i-1].Size)
		}
	}
	sorted := append([]openedCheckpoint(nil), cps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Size < sorted[j].Size })
	var good *openedCheckpoint
	first, later := -1, 0 // the first root mismatch; later ones follow from it
	for i := range sorted {
		c := &sorted[i]
		if i > 0 && sorted[i-1].Size == c.Size && !bytes.Equal(sorted[i-1].Root, c.Root) {
			r.add(ProblemInconsistent, l.id, nil, c.where,
				"two signed checkpoints of size %d have different roots (%s and %s): a split view", c.Size, sorted[i-1].where, c.where)
			continue
		}
		n := len(r.Problems)
		switch ok := l.checkOne(c, good, r); {
		case ok:
			good = c
			sum.VerifiedSize, sum.Root = c.Size, b64(c.Root)
		case len(r.Problems) > n && r.Problems[n].Kind == ProblemChanged && first < 0:
			first = n
		case len(r.Problems) > n && r.Problems[n].Kind == ProblemChanged:
			r.Problems = r.Problems[:n]
			later++
		}
	}
	if later > 0 {
		r.Problems[first].Detail += fmt.Sprintf(" (the %d later checkpoints disagree with the events too)", later)
	}
	l.warnCoverage(sorted, r)
	return sum
}

// checkOne checks one checkpoint against the tree and, through an RFC 6962
// consistency proof, against the last good one. It reports whether the
// checkpoint's root matched the events.
func (l *instanceLog) checkOne(c, good *openedCheckpoint, r *Report) bool {
	have := uint64(0)
	if len(l.bySeq) > 0 {
		have = l.maxSeq + 1
	}
	switch {
	case c.Size > have:
		r.add(ProblemTruncated, l.id, seqp(have), c.where,
			"checkpoint commits to %d events but the log ends before seq %d: events seq %d to %d are missing",
			c.Size, have, have, c.Size-1)
		return false
	case c.Size > l.tree.Size():
		return false // a gap inside the checkpoint, reported as deleted events
	}
	root, err := l.tree.Root(c.Size)
	if err != nil {
		r.add(ProblemMalformed, l.id, nil, c.where, "%v", err)
		return false
	}
	lo := uint64(0)
	if good != nil {
		lo = good.Size
	}
	if !bytes.Equal(root, c.Root) {
		r.add(ProblemChanged, l.id, nil, c.where,
			"checkpoint of size %d does not match the events: an event in seq %d to %d was changed", c.Size, lo, c.Size-1)
		return false
	}
	if good != nil && good.Size < c.Size {
		p, err := l.tree.ConsistencyProof(good.Size, c.Size)
		if err == nil {
			err = VerifyConsistency(good.Size, c.Size, p, good.Root, c.Root)
		}
		if err != nil {
			r.add(ProblemInconsistent, l.id, nil, c.where, "checkpoint of size %d does not extend the one of size %d: %v",
				c.Size, good.Size, err)
			return false
		}
	}
	return true
}

// warnCoverage notes the limits of what checkpoints prove: events after the
// last checkpoint are protected by the chain alone, so removing them from
// the tail cannot be detected.
func (l *instanceLog) warnCoverage(sorted []openedCheckpoint, r *Report) {
	if len(l.bySeq) == 0 {
		return
	}
	have := l.maxSeq + 1
	if len(sorted) == 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"instance %s: no signed checkpoint; events at the tail could be removed undetected", l.id))
		return
	}
	if last := sorted[len(sorted)-1].Size; last < have {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"instance %s: events seq %d to %d come after the last checkpoint and are covered by the hash chain only",
			l.id, last, have-1))
	}
}
