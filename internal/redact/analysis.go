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
