package redact

import "regexp/syntax"

// prefilterSpan is how far past a hit the prefilter first looks. When a run
// goes on past it, the prefilter looks again four times as far, up to the
// rule's window, so that the regex later reads only the bytes a match can
// reach.
const prefilterSpan = 256

// Why a step could not decide.
type undecided uint8

const (
	decided  undecided = iota
	needMore           // ran into the end of the bytes given while more may follow
	unsure             // non-ASCII input or too many offsets: admit, no bound
)

// maxSpans bounds the offset intervals tracked; more means "maybe".
const maxSpans = 8

// prefilter is a necessary condition for a rule to match at a hit, derived
// from its regex (see prefilterSteps). Keyword-stuffed text fails it within
// a few bytes, so the regex runs only where a secret can actually be.
type prefilter struct {
	steps    []step
	complete bool        // steps model the whole regex
	alts     []prefilter // for a top-level alternation: one per branch
}

// newPrefilter builds the prefilter of a (stripped) rule regex. The branches
// of a top-level alternation get one each: relaxing them together would
// merge, for example, a keyword-and-assignment branch with a bare-token one.
func newPrefilter(re *syntax.Regexp) prefilter {
	if re.Op == syntax.OpAlternate {
		pf := prefilter{complete: true}
		for _, b := range re.Sub {
			alt := newPrefilter(b)
			pf.complete = pf.complete && alt.complete
			pf.alts = append(pf.alts, alt)
		}
		return pf
	}
	steps, complete := prefilterSteps(re)
	return prefilter{steps: steps, complete: complete}
}

// span is an inclusive interval of offsets from the hit.
type span struct{ lo, hi int }

// spans is a sorted list of disjoint, non-adjacent intervals.
type spans struct {
	s        [maxSpans]span
	n        int
	overflow bool
}

func (ss *spans) add(lo, hi int) {
	if ss.n == 0 {
		ss.push(span{lo, hi})
		return
	}
	if lo >= ss.s[ss.n-1].lo { // the common, ascending case
		if lo <= ss.s[ss.n-1].hi+1 {
			ss.s[ss.n-1].hi = max(ss.s[ss.n-1].hi, hi)
			return
		}
		ss.push(span{lo, hi})
		return
	}
	// Out of order: rebuild with the interval merged in.
	old := *ss
	*ss = spans{}
	inserted := false
	for i := 0; i < old.n; i++ {
		if !inserted && lo < old.s[i].lo {
			ss.add(lo, hi)
			inserted = true
		}
		ss.add(old.s[i].lo, old.s[i].hi)
	}
	if !inserted {
		ss.add(lo, hi)
	}
	ss.overflow = ss.overflow || old.overflow
}

func (ss *spans) push(sp span) {
	if ss.n == maxSpans {
		ss.overflow = true
		return
	}
	ss.s[ss.n] = sp
	ss.n++
}

// admits reports whether a match may start at text[0]. final says that
// text ends where the whole input ends. When the steps model the whole
// regex and the outcome is known, end is the furthest a match can reach;
// otherwise end is -1, and more says whether looking at more bytes could
// tell. work counts the bytes examined, for the budget.
func (pf *prefilter) admits(text []byte, final bool) (ok bool, end int, more bool, work int) {
	if pf.alts != nil {
		return pf.admitsAny(text, final)
	}
	var a, b spans
	cur, next := &a, &b
	cur.push(span{0, 0})
	for i := range pf.steps {
		next.n, next.overflow = 0, false
		why := pf.steps[i].advance(cur, next, text, !final, &work)
		if why != decided || next.overflow {
			return true, -1, why == needMore, work
		}
		if next.n == 0 {
			return false, -1, false, work
		}
		cur, next = next, cur
	}
	if !pf.complete {
		return true, -1, false, work
	}
	return true, cur.s[cur.n-1].hi, false, work
}

// admitsAny combines the branches: admitted if any is, and bounded only if
// every admitting branch is.
func (pf *prefilter) admitsAny(text []byte, final bool) (ok bool, end int, more bool, work int) {
	end = -1
	bounded := true
	for i := range pf.alts {
		aok, aend, amore, awork := pf.alts[i].admits(text, final)
		work += awork
		if !aok {
			continue
		}
		ok, more = true, more || amore
		if aend < 0 {
			bounded = false
		}
		end = max(end, aend)
	}
	if !ok || !bounded {
		end = -1
	}
	return ok, end, more, work
}

// advance applies one step to every offset in cur, into next.
func (st *step) advance(cur, next *spans, text []byte, open bool, work *int) (why undecided) {
	if st.seek != nil {
		return st.seek.advance(cur, next, text, open, work)
	}
	for k := 0; k < cur.n && why == decided; k++ {
		sp := cur.s[k]
		if st.lits != nil {
			for o := sp.lo; o <= sp.hi && why == decided; o++ {
				why = st.advanceLits(next, text, o, open)
				*work += len(st.lits)
			}
			continue
		}
		why = st.advanceRun(next, text, sp, open, work)
	}
	return why
}

// advanceRun moves the offsets lo..hi over a run of min..max characters of
// the step's set. Offsets inside one run of set bytes share its end, so each
// such segment yields one interval. work grows by the bytes examined.
func (st *step) advanceRun(next *spans, text []byte, sp span, open bool, work *int) undecided {
	far := sp.lo // one past the furthest byte examined
	defer func() { *work += far - sp.lo }()
	for o := sp.lo; o <= sp.hi; {
		if o >= len(text) {
			if open && st.max != 0 {
				return needMore
			}
			if st.min == 0 {
				next.add(o, sp.hi)
			}
			return decided
		}
		if text[o] >= 0x80 && st.meets(text, o) {
			return unsure // counts are in bytes: only exact for ASCII
		}
		if !st.set.has(text[o]) { // run of length 0 from every offset up to the next set byte
			e := o
			for e < len(text) && e <= sp.hi && !st.set.has(text[e]) {
				if text[e] >= 0x80 && st.meets(text, e) {
					return unsure
				}
				e++
			}
			far = max(far, e)
			if st.min == 0 {
				next.add(o, e-1)
			}
			o = e
			continue
		}
		// Past sp.hi+max every offset's run is already long enough.
		limit := len(text)
		if st.max != unbounded {
			limit = min(limit, sp.hi+st.max+1)
		}
		runEnd := o
		for runEnd < limit && st.set.has(text[runEnd]) {
			runEnd++
		}
		far = max(far, runEnd+1)
		if runEnd < limit && text[runEnd] >= 0x80 && st.meets(text, runEnd) {
			return unsure
		}
		if runEnd == len(text) && open && (st.max == unbounded || runEnd-min(sp.hi, runEnd-1) < st.max) {
			return needMore // the run may go on, and someone's count depends on it
		}
		last := min(sp.hi, runEnd-1, runEnd-st.min) // offsets whose run is long enough
		if last >= o {
			hi := runEnd
			if st.max != unbounded {
				hi = min(last+st.max, runEnd)
			}
			next.add(o+st.min, hi)
		}
		o = min(sp.hi, runEnd-1) + 1
	}
	return decided
}

func (st *step) advanceLits(next *spans, text []byte, o int, open bool) undecided {
	return advanceLits(st.lits, st.wide, next, text, o, open)
}

// advanceLits matches literal alternatives at o. Literals that (?i) lets
// match K or ſ cannot be compared byte for byte against non-ASCII text:
// meeting a non-ASCII byte where one is compared makes the step unsure.
func advanceLits(lits []string, wide wideness, next *spans, text []byte, o int, open bool) undecided {
	for _, l := range lits {
		if o < len(text) && text[o] < 0x80 && lowerASCII(text[o]) != l[0] {
			continue // the common case: the first byte already differs
		}
		if o+len(l) > len(text) {
			if open && hasPrefixFoldASCII(l, text[min(o, len(text)):]) {
				return needMore
			}
			continue
		}
		if equalFoldASCII(text[o:o+len(l)], l) {
			next.add(o+len(l), o+len(l))
		} else if wide != asciiOnly && hasHighByte(text[o:o+len(l)]) {
			return unsure
		}
	}
	return decided
}

func hasHighByte(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// equalFoldASCII compares b with the ASCII-lowercased lit, folding b.
func equalFoldASCII(b []byte, lit string) bool {
	for i := 0; i < len(lit); i++ {
		if lowerASCII(b[i]) != lit[i] {
			return false
		}
	}
	return true
}

// hasPrefixFoldASCII reports whether the short b is a folded prefix of lit.
func hasPrefixFoldASCII(lit string, b []byte) bool {
	return len(b) <= len(lit) && equalFoldASCII(b, lit[:len(b)])
}

// advance finds every place where, after an any-run of at least min bytes
// from some current offset, the single characters and then a literal
// follow; the offsets after those literals are the next offsets.
func (sk *seek) advance(cur, next *spans, text []byte, open bool, work *int) undecided {
	from := cur.s[0].lo + sk.min
	stop := len(text)
	if sk.noNL { // the run ends at the first line end after the last offset
		if i := indexByteFrom(text, '\n', cur.s[cur.n-1].hi); i >= 0 {
			stop = i + 1
		}
	}
	*work += stop - from
	for i := max(from, 0); i < stop; i++ {
		k := i + len(sk.pre) // where the literal starts
		if k >= len(text) {
			break
		}
		if !sk.preAt(text, i) {
			continue
		}
		if why := advanceLits(sk.lits, sk.wide, next, text, k, open); why != decided {
			return why
		}
	}
	if open && stop == len(text) {
		return needMore // more text, more places
	}
	return decided
}

func (sk *seek) preAt(text []byte, i int) bool {
	for j, set := range sk.pre {
		if !set.has(text[i+j]) {
			return false
		}
	}
	return true
}

func indexByteFrom(b []byte, c byte, from int) int {
	for i := max(from, 0); i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}
