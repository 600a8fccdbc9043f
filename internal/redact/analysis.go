package redact

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reads a gitleaks rule's regular expression as a syntax tree to
// learn three things the matcher needs and the rule does not state: whether
// every match starts with a known literal (so the regex can run anchored at
// each keyword hit instead of scanning the text), how long a match can be
// (so the window around a hit, and the stream's carry-over, are bounded), and
// a cheap necessary condition on the bytes after the hit (the prefilter), so
// that keyword-stuffed text is rejected without running the regex at all.

// unbounded marks a length with no upper limit.
const unbounded = -1

// maxLitStrings caps the size of a literal-prefix set; beyond it the prefix
// is treated as unknown (a class like [0-9A-Z] is not a useful anchor).
const maxLitStrings = 64

// stripLazyPrefix removes a leading lazy, possibly empty repetition such as
// gitleaks' `[\w.-]{0,50}?` before the keyword. Leftmost-first matching with
// such a prefix finds the same match ends and capture groups as without it,
// only earlier starts; the secret is a capture group, so nothing a finding
// reports changes, and the remaining regex starts at the keyword.
// Each branch of a top-level alternation is stripped on its own.
func stripLazyPrefix(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpAlternate {
		out := *re
		out.Sub = make([]*syntax.Regexp, len(re.Sub))
		for i, s := range re.Sub {
			out.Sub[i] = stripLazyPrefix(s)
		}
		return &out
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return re
	}
	subs := append([]*syntax.Regexp(nil), re.Sub...)
	for len(subs) > 1 {
		first := subs[0]
		if first.Op == syntax.OpConcat { // a flag group such as (?i:...)
			subs = append(append([]*syntax.Regexp(nil), first.Sub...), subs[1:]...)
			continue
		}
		lazy := first.Flags&syntax.NonGreedy != 0
		optional := first.Op == syntax.OpStar || first.Op == syntax.OpQuest ||
			(first.Op == syntax.OpRepeat && first.Min == 0)
		if !lazy || !optional || hasCapture(first) {
			break
		}
		subs = subs[1:]
	}
	if len(subs) == 1 {
		return subs[0]
	}
	out := *re
	out.Sub = subs
	return &out
}

func hasCapture(re *syntax.Regexp) bool {
	if re.Op == syntax.OpCapture {
		return true
	}
	for _, s := range re.Sub {
		if hasCapture(s) {
			return true
		}
	}
	return false
}

// litSet is the set of strings (ASCII-lowercased) a match can start with.
// exact means every match starts with one of them and the node matches
// nothing longer; otherwise they are only prefixes.
type litSet struct {
	strs  []string
	exact bool
}

// literalPrefixes computes the prefix set of re, or ok=false when it is
// unknown or too large to be useful.
func literalPrefixes(re *syntax.Regexp) (litSet, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpBeginLine,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litSet{strs: []string{""}, exact: true}, true
	case syntax.OpLiteral:
		return litSet{strs: []string{foldASCII(string(re.Rune))}, exact: true}, true
	case syntax.OpCharClass:
		return classLiterals(re.Rune)
	case syntax.OpCapture:
		return literalPrefixes(re.Sub[0])
	case syntax.OpAlternate:
		out := litSet{exact: true}
		for _, s := range re.Sub {
			l, ok := literalPrefixes(s)
			if !ok {
				return litSet{}, false
			}
			out.strs = append(out.strs, l.strs...)
			out.exact = out.exact && l.exact
		}
		return out, len(out.strs) <= maxLitStrings
	case syntax.OpQuest:
		l, ok := literalPrefixes(re.Sub[0])
		return litSet{strs: append(l.strs, ""), exact: l.exact}, ok
	case syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		l, ok := literalPrefixes(re.Sub[0])
		if !ok {
			return litSet{}, false
		}
		if re.Op == syntax.OpStar || (re.Op == syntax.OpRepeat && re.Min == 0) {
			l.strs = append(l.strs, "")
		}
		return litSet{strs: l.strs}, true
	case syntax.OpConcat:
		return concatPrefixes(re.Sub)
	}
	return litSet{}, false
}

func concatPrefixes(subs []*syntax.Regexp) (litSet, bool) {
	cur := litSet{strs: []string{""}, exact: true}
	for _, s := range subs {
		l, ok := literalPrefixes(s)
		if !ok {
			cur.exact = false
			return cur, true
		}
		next := make([]string, 0, len(cur.strs)*len(l.strs))
		for _, a := range cur.strs {
			for _, b := range l.strs {
				next = append(next, a+b)
			}
		}
		if len(next) > maxLitStrings {
			cur.exact = false
			return cur, true
		}
		cur.strs = dedupe(next)
		if !l.exact {
			cur.exact = false
			return cur, true
		}
	}
	return cur, true
}

// classLiterals turns a small character class into its ASCII-lowercased
// members; a large class (or one with non-ASCII members) is no anchor.
func classLiterals(ranges []rune) (litSet, bool) {
	var out []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1]-ranges[i] > 16 {
			return litSet{}, false
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			if r >= utf8.RuneSelf {
				// Only K (Kelvin) and ſ (long s) reach here, from case
				// folding; the keyword scan folds ASCII only.
				if r == '\u212a' || r == '\u017f' {
					continue
				}
				return litSet{}, false
			}
			s := string(unicode.ToLower(r))
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 || len(out) > 12 {
		return litSet{}, false
	}
	return litSet{strs: out, exact: true}, true
}

func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// maxMatchLen is the longest match of re in bytes, or unbounded.
func maxMatchLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += runeBytes(r, re.Flags&syntax.FoldCase != 0)
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		return utf8.RuneLen(min(re.Rune[len(re.Rune)-1], unicode.MaxRune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpCapture:
		return maxMatchLen(re.Sub[0])
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n := maxMatchLen(s)
			if n == unbounded {
				return unbounded
			}
			total += n
		}
		return total
	case syntax.OpAlternate:
		longest := 0
		for _, s := range re.Sub {
			n := maxMatchLen(s)
			if n == unbounded {
				return unbounded
			}
			longest = max(longest, n)
		}
		return longest
	case syntax.OpQuest:
		return maxMatchLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return unbounded
	case syntax.OpRepeat:
		n := maxMatchLen(re.Sub[0])
		if re.Max < 0 || n == unbounded {
			return unbounded
		}
		return n * re.Max
	}
	return 0 // empty-width assertions
}

// runeBytes is the widest encoding of r, or of anything it folds to.
func runeBytes(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			n = max(n, utf8.RuneLen(f))
		}
	}
	return max(n, 1)
}

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
		for j < len(steps) && j-i <= 3 && steps[j].lits == nil && steps[j].min == 1 && steps[j].max == 1 && steps[j].wide == asciiOnly {
			pre = append(pre, steps[j].set)
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
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		st.addRange(0, unicode.MaxRune)
		if re.Op == syntax.OpAnyCharNotNL {
			st.set[0] &^= 1 << '\n'
		}
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

// prefixAnchors picks the literals a rule is anchored on: for each possible
// match prefix, the rule keyword it starts with, or the prefix itself when it
// is long enough to be selective. ok=false when some prefix is neither.
func prefixAnchors(re *syntax.Regexp, keywords []string) ([]string, bool) {
	l, ok := literalPrefixes(re)
	if !ok || len(l.strs) == 0 {
		return nil, false
	}
	var out []string
	for _, p := range l.strs {
		kw := ""
		for _, k := range keywords {
			if strings.HasPrefix(p, k) && len(k) > len(kw) {
				kw = k
			}
		}
		switch {
		case kw != "":
			out = append(out, kw)
		case len(p) >= minAnchorLen && allASCII([]string{p}):
			out = append(out, p)
		default:
			return nil, false
		}
	}
	return dedupe(out), true
}

// minAnchorLen is the shortest derived literal accepted as an anchor.
const minAnchorLen = 3
