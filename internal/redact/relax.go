package redact

import (
	"regexp/syntax"
	"unicode"
	"unicode/utf8"
)

// Prefilter construction: each node of a rule's top-level sequence is
// relaxed into a step the prefilter (prefilter.go) can check on raw bytes.
// Relaxations only ever widen what is accepted, so a rejected hit can never
// have matched.

// step is one element of a prefilter: a relaxation of one node of the
// regex's top-level sequence. Either a set of literal alternatives, or a run
// of min..max characters drawn from an ASCII byte set. Counts are exact for
// ASCII text. When the node also admits non-ASCII runes, meeting one makes
// the prefilter admit without a bound; when those are only K (Kelvin) and ſ
// (long s), which (?i) adds to k and s, only meeting one of those two does,
// and any other non-ASCII byte simply ends the run.
type step struct {
	lits     []string // ASCII-folded alternatives; nil for a run
	set      *byteSet
	min, max int // characters; max may be unbounded
	wide     wideness
	seek     *seek
}

// seek replaces "anything, then a few single characters, then one of some
// literals" (as in `.*[ \t](?:-H|--header)` or `[\s\S]{64,}?KEY`): instead
// of letting the any-run swallow the rest of the window, it looks for the
// literals, which are what makes such text rare.
type seek struct {
	min  int        // least bytes the any-run takes
	pre  []*byteSet // single characters between the run and the literal
	lits []string
	noNL bool     // the run cannot cross a line end
	wide wideness // of the literals
}

type wideness uint8

func hasPrefixOrCut(b []byte, enc string) bool {
	n := min(len(b), len(enc))
	return string(b[:n]) == enc[:n]
}

const (
	asciiOnly wideness = iota
	foldOnly           // also K and ſ
	anyWide            // also other non-ASCII runes
)

// meets reports whether text[i] (a non-ASCII byte) starts a rune the step
// may consume.
func (st *step) meets(text []byte, i int) bool {
	switch st.wide {
	case asciiOnly:
		return false
	case foldOnly: // a prefix of K (E2 84 AA) or ſ (C5 BF), or cut short of telling
		return hasPrefixOrCut(text[i:], "\xe2\x84\xaa") || hasPrefixOrCut(text[i:], "\xc5\xbf")
	}
	return true
}

type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) union(o *byteSet) {
	s[0], s[1], s[2], s[3] = s[0]|o[0], s[1]|o[1], s[2]|o[2], s[3]|o[3]
}

// prefilterSteps relaxes the top-level sequence of re into steps, stopping
// at the first node it cannot model (everything after it is then accepted).
// Every string re matches is accepted by the steps: they only ever widen.
// Consecutive optional runs merge into one, which is looser but cheaper.
//
// complete says every node was modelled: the steps then also bound where a
// match can end, which lets the regex run on exactly the bytes it needs.
func prefilterSteps(re *syntax.Regexp) (steps []step, complete bool) {
	defer func() { steps = fuseSeeks(steps) }()
	for _, n := range flattenConcat(re) {
		st, ok := relaxNode(n)
		if !ok {
			return steps, false
		}
		if st.lits == nil && st.max == 0 {
			continue // an assertion: consumes nothing
		}
		if k := len(steps) - 1; k >= 0 && st.lits == nil && steps[k].lits == nil && st.min == 0 && steps[k].min == 0 {
			prev := &steps[k]
			merged := *prev.set
			merged.union(st.set)
			prev.set, prev.max, prev.wide = &merged, addLen(prev.max, st.max), max(prev.wide, st.wide)
			continue
		}
		steps = append(steps, st)
	}
	return steps, true
}

// fuseSeeks turns an unbounded run over (nearly) every byte, followed by up
// to three single-character steps and a literal step, into one seek step.
func fuseSeeks(steps []step) []step {
	out := steps[:0:0]
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		if st.lits != nil || st.max != unbounded || st.wide != anyWide || !coversAll(st.set) {
			out = append(out, st)
			continue
		}
		j := i + 1
		var pre []*byteSet
		for j < len(steps) && j-i <= 3 {
			set, ok := steps[j].singleChar()
			if !ok {
				break
			}
			pre = append(pre, set)
			j++
		}
		if j == len(steps) || steps[j].lits == nil {
			out = append(out, st)
			continue
		}
		out = append(out, step{seek: &seek{min: st.min, pre: pre, lits: steps[j].lits, noNL: !st.set.has('\n'),
			wide: steps[j].wide}})
		i = j
	}
	return out
}

// singleChar returns the ASCII set of a step that consumes exactly one
// ASCII character (a class, or literals of one character each).
func (st *step) singleChar() (*byteSet, bool) {
	if st.wide != asciiOnly {
		return nil, false
	}
	if st.lits == nil {
		return st.set, st.min == 1 && st.max == 1
	}
	var set byteSet
	for _, l := range st.lits {
		if len(l) != 1 {
			return nil, false
		}
		set.add(l[0])
		if isAlpha(l[0]) {
			set.add(l[0] ^ 0x20) // lits are folded: both cases
		}
	}
	return &set, true
}

// coversAll: every ASCII byte except perhaps the line ends.
func coversAll(s *byteSet) bool {
	for c := 0; c < 128; c++ {
		if !s.has(byte(c)) && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func flattenConcat(re *syntax.Regexp) []*syntax.Regexp {
	switch re.Op {
	case syntax.OpConcat:
		var out []*syntax.Regexp
		for _, s := range re.Sub {
			out = append(out, flattenConcat(s)...)
		}
		return out
	case syntax.OpCapture:
		return flattenConcat(re.Sub[0])
	}
	return []*syntax.Regexp{re}
}

// relaxNode models one node as a step: exact literal alternatives when the
// node is a small set of ASCII literals, else a run over the union of its
// characters.
func relaxNode(re *syntax.Regexp) (step, bool) {
	if l, ok := literalPrefixes(re); ok && l.exact && !hasEmpty(l.strs) && allASCII(l.strs) {
		st := step{lits: l.strs}
		if foldsNonASCII(re) {
			st.wide = foldOnly
		}
		return st, true
	}
	st := step{set: &byteSet{}}
	lo, hi, ok := relaxRun(re, &st)
	st.min, st.max = lo, hi
	return st, ok
}

// foldsNonASCII reports whether a case-folded literal in re also matches a
// non-ASCII rune (k and s do: K, ſ), which an ASCII literal step would miss.
func foldsNonASCII(re *syntax.Regexp) bool {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase != 0 {
		for _, r := range re.Rune {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				if f >= utf8.RuneSelf {
					return true
				}
			}
		}
	}
	for _, sub := range re.Sub {
		if foldsNonASCII(sub) {
			return true
		}
	}
	return false
}

func hasEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return false
			}
		}
	}
	return true
}

// relaxRun adds every ASCII character re can consume to st.set, notes
// whether it can consume non-ASCII ones, and returns the least and most
// characters it can consume.
func relaxRun(re *syntax.Regexp, st *step) (lo, hi int, ok bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine,
		syntax.OpEndLine, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, 0, true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			st.addRune(r, re.Flags&syntax.FoldCase != 0)
		}
		return len(re.Rune), len(re.Rune), true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			st.addRange(re.Rune[i], re.Rune[i+1])
		}
		return 1, 1, true
	case syntax.OpAnyChar:
		st.addRange(0, unicode.MaxRune)
		return 1, 1, true
	case syntax.OpAnyCharNotNL:
		st.addRange(0, '\n'-1)
		st.addRange('\n'+1, unicode.MaxRune)
		return 1, 1, true
	case syntax.OpCapture:
		return relaxRun(re.Sub[0], st)
	case syntax.OpConcat, syntax.OpAlternate:
		return relaxList(re, st)
	case syntax.OpQuest, syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		l, h, ok := relaxRun(re.Sub[0], st)
		if !ok {
			return 0, 0, false
		}
		minRep, maxRep := repeatBounds(re)
		if maxRep == unbounded || h == unbounded {
			return l * minRep, unbounded, true
		}
		return l * minRep, h * maxRep, true
	}
	return 0, 0, false
}

func relaxList(re *syntax.Regexp, st *step) (lo, hi int, ok bool) {
	for i, sub := range re.Sub {
		l, h, ok := relaxRun(sub, st)
		if !ok {
			return 0, 0, false
		}
		if re.Op == syntax.OpConcat {
			lo, hi = lo+l, addLen(hi, h)
			continue
		}
		if i == 0 || l < lo {
			lo = l
		}
		if h == unbounded || hi == unbounded {
			hi = unbounded
		} else {
			hi = max(hi, h)
		}
	}
	return lo, hi, true
}

func addLen(a, b int) int {
	if a == unbounded || b == unbounded {
		return unbounded
	}
	return a + b
}

func repeatBounds(re *syntax.Regexp) (lo, hi int) {
	switch re.Op {
	case syntax.OpQuest:
		return 0, 1
	case syntax.OpStar:
		return 0, unbounded
	case syntax.OpPlus:
		return 1, unbounded
	}
	return re.Min, re.Max
}

// addRune adds r and, when fold, its case variants.
func (st *step) addRune(r rune, fold bool) {
	st.addRange(r, r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			st.addRange(f, f)
		}
	}
}

func (st *step) addRange(lo, hi rune) {
	for r := lo; r <= min(hi, utf8.RuneSelf-1); r++ {
		st.set.add(byte(r))
	}
	if hi >= utf8.RuneSelf {
		if lo == hi && (lo == '\u212a' || lo == '\u017f') {
			st.wide = max(st.wide, foldOnly)
		} else {
			st.wide = anyWide
		}
	}
}
