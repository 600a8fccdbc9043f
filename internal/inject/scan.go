package inject

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// rule is a compiled ruleSpec.
type rule struct {
	ruleSpec
	idx       int            // index of the rule id in ruleSet.ids
	re        *regexp.Regexp // anchored tail; nil when the anchor alone matches
	next      map[string]bool
	nextBytes [256]bool
	anyNext   bool // no nextBytes filter
	cost      int  // relative cost of one window byte, from the program size
}

// ruleSet is the immutable, compiled rule table.
type ruleSet struct {
	rules  []rule
	byWord map[string][]int
	// wordLens[c] has bit n set when some anchor word of length n starts
	// with c: most words are rejected without a map lookup.
	wordLens [256]uint32
	byLead   [256][]int
	ids      []ruleID
	idIdx    map[string]int
}

// ruleID is one distinct rule id with its family and weight (the largest of
// its specs, so an id contributes once however many patterns it has).
type ruleID struct {
	id      string
	family  Family
	weight  float64
	primary bool // counts as primary evidence in score
}

// maxAnchorWord is the longest anchor word; longer words are skipped
// without a map lookup.
const maxAnchorWord = 16

func compileRules(specs []ruleSpec) (*ruleSet, error) {
	rs := &ruleSet{byWord: map[string][]int{}, idIdx: map[string]int{}}
	for _, sp := range specs {
		if (len(sp.words) == 0) == (sp.lead == "") {
			return nil, fmt.Errorf("inject: rule %s: exactly one of words and lead must be set", sp.id)
		}
		if sp.maxLen == 0 {
			sp.maxLen = defaultMaxLen
		}
		r := rule{ruleSpec: sp, idx: rs.addID(sp.id, sp.family, sp.weight), anyNext: sp.nextBytes == ""}
		if sp.next != "" {
			r.next = map[string]bool{}
			for _, w := range fields(sp.next) {
				r.next[w] = true
			}
		}
		for i := 0; i < len(sp.nextBytes); i++ {
			r.nextBytes[sp.nextBytes[i]] = true
		}
		if rs.ids[r.idx].family != sp.family {
			return nil, fmt.Errorf("inject: rule %s: used with families %s and %s", sp.id, rs.ids[r.idx].family, sp.family)
		}
		if sp.tail != "" {
			re, err := regexp.Compile(`^(?:` + sp.tail + `)`)
			if err != nil {
				return nil, fmt.Errorf("inject: rule %s: %w", sp.id, err)
			}
			r.re = re
			if r.cost, err = progCost(sp.tail); err != nil {
				return nil, fmt.Errorf("inject: rule %s: %w", sp.id, err)
			}
		}
		n := len(rs.rules)
		rs.rules = append(rs.rules, r)
		for _, w := range sp.words {
			if len(w) > maxAnchorWord {
				return nil, fmt.Errorf("inject: rule %s: anchor %q longer than %d bytes", sp.id, w, maxAnchorWord)
			}
			rs.byWord[w] = append(rs.byWord[w], n)
			rs.wordLens[w[0]] |= 1 << len(w)
		}
		for i := 0; i < len(sp.lead); i++ {
			rs.byLead[sp.lead[i]] = append(rs.byLead[sp.lead[i]], n)
		}
	}
	for _, sg := range signalRules {
		rs.ids[rs.addID(sg.id, FamilyObfuscation, sg.weight)].primary = sg.primary
	}
	return rs, nil
}

func (rs *ruleSet) addID(id string, f Family, w float64) int {
	if i, ok := rs.idIdx[id]; ok {
		rs.ids[i].weight = max(rs.ids[i].weight, w)
		return i
	}
	rs.idIdx[id] = len(rs.ids)
	primary := f == FamilyInstruction || f == FamilyDelimiter || f == FamilyExfiltration
	rs.ids = append(rs.ids, ruleID{id: id, family: f, weight: w, primary: primary})
	return len(rs.ids) - 1
}

// progCost estimates a regexp's cost per input byte: Go's matchers do work
// proportional to the program size for every byte they examine.
func progCost(tail string) (int, error) {
	re, err := syntax.Parse(`^(?:`+tail+`)`, syntax.Perl)
	if err != nil {
		return 0, err
	}
	p, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	return 1 + len(p.Inst)/64, nil
}

// match is a rule match in folded coordinates.
type match struct {
	rule       int
	start, end int
}

// maxPerRule bounds the matches kept for one rule: enough to neutralize a
// handful of repeats, small enough that a text repeating a phrase a million
// times costs a million cheap skips, not a million findings.
const maxPerRule = 16

// Work budget: the bytes of regexp window the scanner may examine per byte
// of text (plus a floor for short texts). Ordinary text uses one or two;
// only text packed with near-matches of the rules reaches the budget, and
// then the scan stops instead of running long: see ruleBudget.
const (
	workPerByte     = 48
	workFloor       = 64 << 10
	attemptOverhead = 64 // a regexp run's fixed cost, in window bytes
)

// scanResult is what one scan of folded text found.
type scanResult struct {
	matches []match
	// exhausted: the work budget ran out and later candidates were not
	// examined.
	exhausted bool
	// capped: a rule reached maxPerRule and later candidates for it were
	// skipped, so some matches may be missing from matches.
	capped bool
	// work is the budget used (tests check ordinary text stays far below).
	work int
}

// scan finds rule matches in the folded text t in one pass over its words
// and lead bytes. Each candidate costs one anchored regexp run over at most
// the rule's maxLen bytes, so the whole scan is linear in len(t); the work
// budget keeps the constant small.
func (rs *ruleSet) scan(t string) scanResult {
	var res scanResult
	lastEnd := make([]int, len(rs.rules))
	count := make([]uint8, len(rs.rules))
	budget := max(workFloor, workPerByte*len(t))
	work := budget
	try := func(ri, at, tailStart int) {
		r := &rs.rules[ri]
		if res.exhausted || at < lastEnd[ri] || !r.admits(t, at, tailStart) {
			return
		}
		if count[ri] >= maxPerRule {
			res.capped = true
			return
		}
		if r.re != nil {
			if work -= (min(len(t), at+r.maxLen) - tailStart + attemptOverhead) * r.cost; work < 0 {
				res.exhausted = true
				return
			}
		}
		if end, ok := r.matchAt(t, tailStart, at); ok {
			lastEnd[ri] = end
			count[ri]++
			res.matches = append(res.matches, match{rule: ri, start: at, end: end})
		}
	}
	for i := 0; i < len(t) && !res.exhausted; {
		c := t[i]
		if !isWordByte(c) {
			for _, ri := range rs.byLead[c] {
				try(ri, i, i+1)
			}
			i++
			continue
		}
		j := i + 1
		for j < len(t) && isWordByte(t[j]) {
			j++
		}
		if j-i <= maxAnchorWord && rs.wordLens[c]&(1<<(j-i)) != 0 {
			for _, ri := range rs.byWord[t[i:j]] {
				try(ri, i, j)
			}
		}
		i = j
	}
	res.work = budget - work
	return res
}

// matchAt runs the rule's tail at tailStart; the match begins at the anchor.
// The caller has checked admits.
func (r *rule) matchAt(t string, tailStart, at int) (int, bool) {
	if r.re == nil {
		return tailStart, true
	}
	loc := r.re.FindStringIndex(t[tailStart:min(len(t), at+r.maxLen)])
	if loc == nil {
		return 0, false
	}
	return tailStart + loc[1], true
}

// admits applies the rule's cheap checks; false means the rule cannot match
// here.
func (r *rule) admits(t string, at, tailStart int) bool {
	if r.lineStart && !atLineStart(t, at) {
		return false
	}
	return r.re == nil || r.prefilter(t, at, tailStart)
}

// prefilter applies next, nextBytes and needs. It must never reject a
// position where the tail matches (TestRules_Covered and FuzzDetect check).
func (r *rule) prefilter(t string, at, tailStart int) bool {
	lim := min(len(t), at+r.maxLen)
	if tailStart >= lim || !r.anyNext && !r.nextBytes[t[tailStart]] {
		return false
	}
	if r.next != nil && !r.next[nextWord(t, tailStart, lim)] {
		return false
	}
	for _, group := range r.needs {
		if !containsAny(t[tailStart:lim], group) {
			return false
		}
	}
	return true
}

// nextWord returns the word starting at or after j, skipping white space
// and the punctuation rules allow between words ('":,-#/). The skip is
// bounded by the window, like the regexp it stands in for.
func nextWord(t string, j, lim int) string {
	for ; j < lim; j++ {
		switch t[j] {
		case ' ', '\t', '\n', '\'', '"', ':', ',', '-', '#', '/':
			continue
		}
		break
	}
	// ASCII word bytes only: that is where the tails' \b sees the word end.
	e := j
	for e < lim && (t[e] >= 'a' && t[e] <= 'z' || t[e] >= '0' && t[e] <= '9' || t[e] == '_') {
		e++
	}
	return t[j:e]
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// atLineStart reports whether only spaces or tabs separate position i from
// the start of its line.
func atLineStart(t string, i int) bool {
	for i > 0 {
		switch t[i-1] {
		case ' ', '\t':
			i--
		case '\n':
			return true
		default:
			return false
		}
	}
	return true
}

// isWordByte: ASCII letters, digits and '_' (folded text has no upper
// case), and every byte of a multi-byte rune, so "xignore" or "ignoreж" is
// one word and not an anchor.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}
