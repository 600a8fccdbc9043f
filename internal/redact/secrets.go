package redact

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// Budget costs, in units of about a nanosecond on the reference machine
// (docs/perf/redaction.md). A regex call has a fixed setup cost, then costs
// per byte of the slice it may read, at the worst rate measured for the
// gitleaks rules (Go's NFA keeping threads alive across the whole slice:
// 35-80 ns/byte); unanchored window search more, as it tries every start.
// The prefilter costs about a nanosecond per byte it examines.
const (
	costRegexCall     = 500
	costAnchoredByte  = 80
	costWindowByte    = 120
	costPrefilterCall = 24
)

func (r *secretRule) cost(window int) int {
	if r.mode == modeWindow {
		return costRegexCall + costWindowByte*window
	}
	return costRegexCall + costAnchoredByte*window
}

// evalSecret runs a rule at an admitted hit and adds what survives the
// rule's entropy threshold and allowlists.
func (s *scanner) evalSecret(r *secretRule, a *anchor, w *window) {
	if r.mode == modeAnchored {
		if loc := s.matchAnchored(r, a.pos, w); loc != nil {
			s.acceptSecret(a, r, loc, w)
		}
		return
	}
	for _, loc := range r.re.FindAllSubmatchIndex(w.text, -1) {
		// A match touching an edge the text does not have may be an
		// artefact of cutting the window there.
		if (!w.bot && loc[0] == 0) || (!w.eot && loc[1] == len(w.text)) || w.off+loc[0] < s.lastEnd[a.id] {
			continue
		}
		for i, v := range loc {
			if v >= 0 {
				loc[i] = w.off + v
			}
		}
		s.acceptSecret(a, r, loc, w)
		if s.halting || s.noSecrets {
			return
		}
	}
}

// matchAnchored runs the anchored form of the rule at pos with one byte of
// real context before it, and returns absolute submatch offsets.
func (s *scanner) matchAnchored(r *secretRule, pos int, w *window) []int {
	rel := pos - w.off
	var loc []int
	var base int
	switch {
	case rel == 0 && w.bot:
		loc, base = r.anchoredBOT.FindSubmatchIndex(w.text), pos
	case rel >= 1 && w.text[rel-1] < utf8.RuneSelf:
		loc, base = r.anchored.FindSubmatchIndex(w.text[rel-1:]), pos-1
	default:
		// The byte before is part of a multi-byte rune: decoding it alone
		// would misalign. Any non-ASCII rune is, for \b and ^, the same as
		// a space, so a space stands in for it.
		s.scratch = append(append(s.scratch[:0], ' '), w.text[rel:]...)
		loc, base = r.anchored.FindSubmatchIndex(s.scratch), pos-1
	}
	if loc == nil {
		return nil
	}
	for i, v := range loc {
		if v >= 0 {
			loc[i] = base + v
		}
	}
	loc[0] = pos
	return loc
}

// acceptSecret applies gitleaks' post-match checks (secret group, entropy,
// allowlists) to one match and adds the secret as a candidate. Allowlist
// regexes are charged to the budget.
func (s *scanner) acceptSecret(a *anchor, r *secretRule, loc []int, w *window) {
	ri := a.id
	mStart, mEnd := loc[0], loc[1]
	s.lastEnd[ri] = max(s.lastEnd[ri], mEnd)
	match := w.text[mStart-w.off : mEnd-w.off]
	trimmed := bytes.Trim(match, "\n")
	sStart, sEnd := mStart+bytes.Index(match, trimmed), 0
	sEnd = sStart + len(trimmed)
	if g := secretGroup(r, loc); g > 0 {
		sStart, sEnd = loc[2*g], loc[2*g+1]
	}
	if sEnd <= sStart {
		return
	}
	secret := w.text[sStart-w.off : sEnd-w.off]
	if r.entropy != 0 && shannonEntropy(secret) <= r.entropy {
		return
	}
	line := lineAround(w, mStart, mEnd)
	for _, lists := range [2][]*allowlist{s.p.rules.global, r.allow} {
		for _, al := range lists {
			run, cost := al.plan(al.pick(secret, trimmed, line), s.runBuf)
			s.runBuf = run
			if !s.bud.charge(cost+len(secret), w.off+len(w.text)) {
				s.exhausted(a)
				return
			}
			if al.allows(run, secret, trimmed, line) {
				return
			}
		}
	}
	s.addCand(sStart, sEnd, KindSecret, r.id, s.p.ruleAct[ri])
}

// secretGroup picks the capture group holding the secret as gitleaks does:
// the configured group, else the first that matched something, else 0.
func secretGroup(r *secretRule, loc []int) int {
	n := len(loc)/2 - 1
	if n == 0 {
		return 0
	}
	if r.secretGroup > 0 {
		return r.secretGroup
	}
	for g := 1; g <= n; g++ {
		if loc[2*g] >= 0 && loc[2*g+1] > loc[2*g] {
			return g
		}
	}
	return 0
}

// lineContext bounds the "line" an allowlist sees on each side of a match.
// gitleaks uses the whole line, which on minified or single-line output is
// the whole body, run through a regex per finding; allowlists only exempt,
// so seeing less can only keep more findings.
const lineContext = 200

// lineAround is the line holding the match, at most lineContext bytes
// either side of it and never past the window.
func lineAround(w *window, start, end int) []byte {
	lo := max(start-w.off-lineContext, 0)
	from := lo + bytes.LastIndexByte(w.text[lo:start-w.off], '\n') + 1
	hi := min(end-w.off+lineContext, len(w.text))
	to := hi
	if i := bytes.IndexByte(w.text[end-w.off:hi], '\n'); i >= 0 {
		to = end - w.off + i
	}
	return w.text[from:to]
}

// shannonEntropy matches gitleaks: rune frequencies over the byte length.
func shannonEntropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var ascii [utf8.RuneSelf]int
	var other map[rune]int
	for _, r := range string(b) {
		if r < utf8.RuneSelf {
			ascii[r]++
			continue
		}
		if other == nil {
			other = map[rune]int{}
		}
		other[r]++
	}
	inv := 1 / float64(len(b))
	e := 0.0
	add := func(n int) {
		if n > 0 {
			f := float64(n) * inv
			e -= f * math.Log2(f)
		}
	}
	for _, n := range ascii {
		add(n)
	}
	for _, n := range other {
		add(n)
	}
	return e
}
