package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// honestLog is an instance's 20 events with checkpoints at 8, 15 and 20, as
// export lines, plus what is needed to forge things.
type honestLog struct {
	lines   []exportLine
	key     testKey
	other   testKey // another instance's key, trusted too
	spool   *Spool
	trusted note.Verifiers
}

func newHonestLog(t *testing.T) honestLog {
	t.Helper()
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-v"})
	h := honestLog{key: newTestKey(t, "gw-v"), other: newTestKey(t, "gw-other"), spool: s}
	var cps []SignedCheckpoint
	for _, upto := range []int{8, 15, 20} {
		appendN(t, s, int(s.Stats().Next), upto-int(s.Stats().Next))
		cps = append(cps, h.checkpoint(t, h.key.signer, uint64(upto), nil))
	}
	var buf bytes.Buffer
	if err := WriteExport(&buf, entriesOf(t, s, 0), cps); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var el exportLine
		if err := json.Unmarshal([]byte(l), &el); err != nil {
			t.Fatal(err)
		}
		h.lines = append(h.lines, el)
	}
	vs, err := ParseVerifiers([]byte(h.key.vkey + "\n" + h.other.vkey))
	if err != nil {
		t.Fatal(err)
	}
	h.trusted = vs
	return h
}

// checkpoint signs the spool's head at size (or root, when given).
func (h honestLog) checkpoint(t *testing.T, s note.Signer, size uint64, root []byte) SignedCheckpoint {
	t.Helper()
	if root == nil {
		sz, r, err := h.spool.Head()
		if err != nil || sz != size {
			t.Fatalf("head %d (%v), want %d", sz, err, size)
		}
		root = r
	}
	msg, err := SignCheckpoint(Checkpoint{Origin: Origin("gw-v"), Size: size, Root: root}, s)
	if err != nil {
		t.Fatal(err)
	}
	return SignedCheckpoint{Note: msg}
}

func (h honestLog) verify(t *testing.T, lines []exportLine) Report {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	entries, cps, err := ReadExport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return Verify(entries, cps, h.trusted)
}

// index of the event line with seq, or of the i-th checkpoint line.
func eventLine(t *testing.T, lines []exportLine, seq uint64) int {
	for i, l := range lines {
		if l.Type == "event" {
			var ev Event
			if err := json.Unmarshal(l.Event, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Seq == seq {
				return i
			}
		}
	}
	t.Fatalf("no event seq %d", seq)
	return -1
}

func checkpointLine(lines []exportLine, n int) int {
	for i, l := range lines {
		if l.Type == "checkpoint" {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return -1
}

func editEvent(t *testing.T, l *exportLine, field string, value any) {
	var m map[string]any
	if err := json.Unmarshal(l.Event, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = value
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	l.Event = b
}

type wantProblem struct {
	kind ProblemKind
	seq  int64 // -1: any
}

func TestVerify_CatchesTampering(t *testing.T) {
	t.Parallel()
	h := newHonestLog(t)
	cases := []struct {
		name string
		edit func(t *testing.T, ls []exportLine) []exportLine
		want []wantProblem
	}{
		{"honest log", nil, nil},
		{"identical re-delivery is a duplicate, not a problem", func(t *testing.T, ls []exportLine) []exportLine {
			return slices.Insert(ls, 5, ls[eventLine(t, ls, 3)])
		}, nil},
		{"changed event", func(t *testing.T, ls []exportLine) []exportLine {
			editEvent(t, &ls[eventLine(t, ls, 5)], "tool", "wipe_chart")
			return ls
		}, []wantProblem{{ProblemChanged, 5}, {ProblemChanged, -1}}},
		{"changed last event, caught by the checkpoint", func(t *testing.T, ls []exportLine) []exportLine {
			editEvent(t, &ls[eventLine(t, ls, 19)], "outcome", "deny")
			return ls
		}, []wantProblem{{ProblemChanged, -1}}},
		{"changed copy of a delivered event", func(t *testing.T, ls []exportLine) []exportLine {
			dup := ls[eventLine(t, ls, 3)]
			editEvent(t, &dup, "user", "mallory")
			return append(ls, dup)
		}, []wantProblem{{ProblemChanged, 3}}},
		{"forged event claiming a seq, read before the real one", func(t *testing.T, ls []exportLine) []exportLine {
			i := eventLine(t, ls, 4)
			forged := ls[i]
			editEvent(t, &forged, "id", NewEventID())
			editEvent(t, &forged, "outcome", "deny")
			return slices.Insert(ls, i, forged)
		}, []wantProblem{{ProblemChanged, 4}}},
		{"deleted event", func(t *testing.T, ls []exportLine) []exportLine {
			return slices.Delete(ls, eventLine(t, ls, 7), eventLine(t, ls, 7)+1)
		}, []wantProblem{{ProblemDeleted, 7}}},
		{"reordered events", func(t *testing.T, ls []exportLine) []exportLine {
			i, j := eventLine(t, ls, 3), eventLine(t, ls, 4)
			ls[i], ls[j] = ls[j], ls[i]
			return ls
		}, []wantProblem{{ProblemReordered, 3}}},
		{"truncated tail", func(t *testing.T, ls []exportLine) []exportLine {
			return slices.Delete(ls, eventLine(t, ls, 15), eventLine(t, ls, 19)+1)
		}, []wantProblem{{ProblemTruncated, 15}}},
		{"forged checkpoint (edited size)", func(t *testing.T, ls []exportLine) []exportLine {
			i := checkpointLine(ls, 2)
			ls[i].Checkpoint = strings.Replace(ls[i].Checkpoint, "\n20\n", "\n19\n", 1)
			return ls
		}, []wantProblem{{ProblemForged, -1}}},
		{"checkpoint signed by an unknown key", func(t *testing.T, ls []exportLine) []exportLine {
			rogue := newTestKey(t, "gw-v")
			ls[checkpointLine(ls, 1)].Checkpoint = string(h.checkpointAt(t, rogue.signer, 15, ls))
			return ls
		}, []wantProblem{{ProblemForged, -1}}},
		{"checkpoint signed by another instance's key", func(t *testing.T, ls []exportLine) []exportLine {
			ls[checkpointLine(ls, 1)].Checkpoint = string(h.checkpointAt(t, h.other.signer, 15, ls))
			return ls
		}, []wantProblem{{ProblemForged, -1}}},
		{"split view: two signed roots for one size", func(t *testing.T, ls []exportLine) []exportLine {
			fake := h.checkpoint(t, h.key.signer, 20, bytes.Repeat([]byte{7}, 32))
			return append(ls, exportLine{Type: "checkpoint", Checkpoint: string(fake.Note)})
		}, []wantProblem{{ProblemInconsistent, -1}}},
		{"rolled-back checkpoint", func(t *testing.T, ls []exportLine) []exportLine {
			return append(ls, ls[checkpointLine(ls, 1)])
		}, []wantProblem{{ProblemInconsistent, -1}}},
		{"malformed event", func(t *testing.T, ls []exportLine) []exportLine {
			ls[eventLine(t, ls, 2)].Event = json.RawMessage(`{"id":"x","id":"y"}`)
			return ls
		}, []wantProblem{{ProblemMalformed, -1}, {ProblemDeleted, 2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ls := slices.Clone(h.lines)
			if tc.edit != nil {
				ls = tc.edit(t, ls)
			}
			r := h.verify(t, ls)
			t.Logf("problems: %s warnings: %q", problems(r.Problems), r.Warnings)
			assertProblems(t, r, tc.want)
			honestTree := tc.want == nil || strings.HasPrefix(tc.name, "forged event")
			if honestTree && (len(r.Instances) != 1 || r.Instances[0].VerifiedSize != 20 || r.Instances[0].Checkpoints != 3) {
				t.Fatalf("summary %+v: the logged events should still verify against every checkpoint", r.Instances)
			}
		})
	}
}

// checkpointAt signs the honest root of size with s.
func (h honestLog) checkpointAt(t *testing.T, s note.Signer, size uint64, ls []exportLine) []byte {
	t.Helper()
	entries, _, err := ReadExport(strings.NewReader(exportText(t, ls)))
	if err != nil {
		t.Fatal(err)
	}
	tree := NewTree()
	for _, e := range entries[:size] {
		_, canon, err := ParseEvent(e.Raw)
		if err != nil {
			t.Fatal(err)
		}
		tree.Append(LeafHash(canon))
	}
	root, err := tree.Root(size)
	if err != nil {
		t.Fatal(err)
	}
	return h.checkpoint(t, s, size, root).Note
}

func exportText(t *testing.T, ls []exportLine) string {
	var b strings.Builder
	for _, l := range ls {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	return b.String()
}

func assertProblems(t *testing.T, r Report, want []wantProblem) {
	t.Helper()
	got := r.Problems
	match := func(w wantProblem, p Problem) bool {
		return p.Kind == w.kind && (w.seq < 0 || (p.Seq != nil && *p.Seq == uint64(w.seq)))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(p Problem) bool { return match(w, p) }) {
			t.Errorf("missing %s at seq %d in %s", w.kind, w.seq, problems(got))
		}
	}
	for _, p := range got {
		if !slices.ContainsFunc(want, func(w wantProblem) bool { return w.kind == p.Kind }) {
			t.Errorf("unexpected %s %s", p.Kind, problems([]Problem{p}))
		}
	}
	if len(want) == 0 && !r.OK() {
		t.Errorf("honest log failed verification")
	}
}

func problems(ps []Problem) string {
	b, _ := json.MarshalIndent(ps, "", "  ")
	return string(b)
}
