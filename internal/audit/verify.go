package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"
)

// Entry is one logged event as read back from Kafka or an export file.
type Entry struct {
	// Raw is the event JSON (the OTLP body, or an export's "event").
	Raw []byte
	// Where locates it for the reader of a report ("line 12",
	// "actiongate.audit/2@315"); Stream is its ordering domain (a topic
	// partition), within which one instance's seqs must increase.
	Where, Stream string
	// Problem is what reading found wrong (OTLP attributes that differ from
	// the body), reported as a changed event.
	Problem string
}

// SignedCheckpoint is one signed note as read back.
type SignedCheckpoint struct {
	Note  []byte
	Where string
}

// ProblemKind classifies what verification found.
type ProblemKind string

// Problem kinds.
const (
	ProblemChanged      ProblemKind = "changed_event"
	ProblemDeleted      ProblemKind = "deleted_event"
	ProblemReordered    ProblemKind = "reordered"
	ProblemForged       ProblemKind = "forged_checkpoint"
	ProblemTruncated    ProblemKind = "truncated_tail"
	ProblemInconsistent ProblemKind = "inconsistent_checkpoints"
	ProblemMalformed    ProblemKind = "malformed"
)

// Problem is one finding, located as precisely as the evidence allows.
type Problem struct {
	Kind     ProblemKind `json:"kind"`
	Instance string      `json:"instance,omitempty"`
	Seq      *uint64     `json:"seq,omitempty"`
	Where    string      `json:"where,omitempty"`
	Detail   string      `json:"detail"`
}

// InstanceSummary is what was verified of one instance's log.
type InstanceSummary struct {
	Instance string `json:"instance"`
	Events   uint64 `json:"events"` // distinct events present
	// Contiguous is the length of the gap-free prefix (seqs 0..Contiguous-1).
	Contiguous uint64 `json:"contiguous"`
	// Checkpoints counts validly signed checkpoints; VerifiedSize is the
	// largest whose root matched the events, Root that root (base64).
	Checkpoints  int    `json:"checkpoints"`
	VerifiedSize uint64 `json:"verifiedSize"`
	Root         string `json:"root,omitempty"`
}

// Report is the result of Verify. OK means no problem; warnings are limits
// of the evidence, not tampering.
type Report struct {
	Instances  []InstanceSummary `json:"instances"`
	Problems   []Problem         `json:"problems"`
	Warnings   []string          `json:"warnings,omitempty"`
	Duplicates int               `json:"duplicates"`
}

// OK reports whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(kind ProblemKind, inst string, seq *uint64, where, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Instance: inst, Seq: seq, Where: where, Detail: fmt.Sprintf(format, args...)})
}

func seqp(s uint64) *uint64 { return &s }

// logged is a parsed entry.
type logged struct {
	ev    Event
	canon []byte
	leaf  []byte
	where string
}

// instanceLog is one instance's events after de-duplication.
type instanceLog struct {
	id     string
	byID   map[string]*logged
	claims map[uint64][]*logged // every distinct event claiming a seq
	bySeq  map[uint64]*logged   // the one taken as logged
	maxSeq uint64
	tree   *Tree // over seqs 0..tree.Size()-1, the gap-free prefix
}

func newInstanceLog(id string) *instanceLog {
	return &instanceLog{id: id, byID: map[string]*logged{}, claims: map[uint64][]*logged{},
		bySeq: map[uint64]*logged{}, tree: NewTree()}
}

// Verify recomputes every instance's hash chain and Merkle tree from the
// events, verifies every checkpoint's signature and its root against the
// tree, checks successive checkpoints for consistency and seqs for gaps,
// and reports what is wrong and where.
func Verify(entries []Entry, checkpoints []SignedCheckpoint, known note.Verifiers) Report {
	var r Report
	logs := collect(entries, &r)
	ids := make([]string, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	cps := openCheckpoints(checkpoints, known, &r)
	for id := range cps {
		if logs[id] == nil {
			logs[id] = newInstanceLog(id)
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		l := logs[id]
		if len(l.bySeq) > 0 {
			l.checkSeqs(&r)
			l.checkChain(&r)
		}
		r.Instances = append(r.Instances, l.checkCheckpoints(cps[id], &r))
	}
	sortProblems(r.Problems)
	return r
}

// sortProblems orders findings by instance, then events by seq, then the
// rest (checkpoints) in the order found.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		switch {
		case a.Instance != b.Instance:
			return a.Instance < b.Instance
		case a.Seq == nil || b.Seq == nil:
			return a.Seq != nil && b.Seq == nil
		}
		return *a.Seq < *b.Seq
	})
}

// collect parses entries, drops identical re-deliveries, and reports
// malformed events, conflicting copies and out-of-order streams.
func collect(entries []Entry, r *Report) map[string]*instanceLog {
	logs := map[string]*instanceLog{}
	type streamKey struct{ stream, inst string }
	lastSeq := map[streamKey]uint64{}
	for _, e := range entries {
		ev, canon, err := ParseEvent(e.Raw)
		if err != nil {
			if e.Problem != "" {
				err = errors.New(e.Problem)
			}
			r.add(ProblemMalformed, "", nil, e.Where, "%v", err)
			continue
		}
		l := logs[ev.InstanceID]
		if l == nil {
			l = newInstanceLog(ev.InstanceID)
			logs[ev.InstanceID] = l
		}
		if e.Problem != "" {
			r.add(ProblemChanged, l.id, seqp(ev.Seq), e.Where, "%s", e.Problem)
		}
		if prev, ok := l.byID[ev.ID]; ok {
			if bytes.Equal(prev.canon, canon) {
				r.Duplicates++
			} else {
				r.add(ProblemChanged, l.id, seqp(ev.Seq), e.Where, "event %s differs from its other copy at %s", ev.ID, prev.where)
			}
			continue
		}
		k := streamKey{e.Stream, l.id}
		if last, ok := lastSeq[k]; ok && ev.Seq < last {
			r.add(ProblemReordered, l.id, seqp(ev.Seq), e.Where, "seq %d comes after seq %d in %s", ev.Seq, last, e.Stream)
		}
		lastSeq[k] = max(lastSeq[k], ev.Seq)
		lg := &logged{ev: ev, canon: canon, leaf: LeafHash(canon), where: e.Where}
		l.byID[ev.ID] = lg
		l.claims[ev.Seq] = append(l.claims[ev.Seq], lg)
		l.maxSeq = max(l.maxSeq, ev.Seq)
	}
	for _, l := range logs {
		l.resolveClaims(r)
	}
	return logs
}

// resolveClaims picks one event per seq. When different events claim the
// same seq, the one its successor's prevHash names is the logged one (so a
// forged event cannot displace it, whatever the reading order); the others
// are reported.
func (l *instanceLog) resolveClaims(r *Report) {
	for seq, cs := range l.claims {
		pick := cs[0]
		if next := l.claims[seq+1]; len(cs) > 1 && len(next) > 0 {
			for _, c := range cs {
				if hex.EncodeToString(c.leaf) == next[0].ev.PrevHash {
					pick = c
				}
			}
		}
		l.bySeq[seq] = pick
		for _, c := range cs {
			if c != pick {
				r.add(ProblemChanged, l.id, seqp(seq), c.where, "event %s claims seq %d, which event %s (at %s) holds",
					c.ev.ID, seq, pick.ev.ID, pick.where)
			}
		}
	}
}

// checkSeqs reports missing seqs and builds the tree over the gap-free
// prefix (later leaves cannot be placed without the missing ones).
func (l *instanceLog) checkSeqs(r *Report) {
	l.tree = NewTree()
	var seq uint64
	for seq = 0; seq <= l.maxSeq; seq++ {
		lg, ok := l.bySeq[seq]
		if !ok {
			break
		}
		l.tree.Append(lg.leaf)
	}
	for seq <= l.maxSeq {
		start := seq
		for seq <= l.maxSeq && l.bySeq[seq] == nil {
			seq++
		}
		if start == seq-1 {
			r.add(ProblemDeleted, l.id, seqp(start), "", "event seq %d is missing", start)
		} else {
			r.add(ProblemDeleted, l.id, seqp(start), "", "events seq %d to %d are missing", start, seq-1)
		}
		for seq <= l.maxSeq && l.bySeq[seq] != nil {
			seq++
		}
	}
}

// checkChain checks that each event records its predecessor's hash. A
// broken link whose recorded hash belongs to another event is a reordering;
// otherwise the predecessor (or the link itself) was changed.
func (l *instanceLog) checkChain(r *Report) {
	owner := make(map[string]uint64, len(l.bySeq))
	for seq, lg := range l.bySeq {
		owner[hex.EncodeToString(lg.leaf)] = seq
	}
	seqs := make([]uint64, 0, len(l.bySeq))
	for seq := range l.bySeq {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		lg := l.bySeq[seq]
		if seq == 0 {
			if lg.ev.PrevHash != "" {
				r.add(ProblemChanged, l.id, seqp(0), lg.where, "the first event records a previous hash")
			}
			continue
		}
		prev := l.bySeq[seq-1]
		if prev == nil || lg.ev.PrevHash == hex.EncodeToString(prev.leaf) {
			continue
		}
		if j, ok := owner[lg.ev.PrevHash]; ok {
			r.add(ProblemReordered, l.id, seqp(seq), lg.where, "event seq %d follows seq %d in the hash chain, not seq %d", seq, j, seq-1)
			continue
		}
		r.add(ProblemChanged, l.id, seqp(seq-1), prev.where,
			"event seq %d does not hash to the previous hash recorded by seq %d: it (or that link) was changed", seq-1, seq)
	}
}

// b64 is how roots and hashes appear in reports and proofs.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
