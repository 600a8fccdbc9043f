package redact

import (
	"cmp"
	"errors"
	"slices"
)

// The scanner is the redaction core for one text, fed in chunks. Whole-text
// redaction is one chunk followed by the end, so "whole" and "split" run the
// same code; what makes them agree is that every decision depends only on
// the text, never on where chunks ended:
//
//   - Anchors (keyword hits, credential hits, the first digit of a number,
//     '@') are found by automata whose state crosses chunk boundaries, and
//     queued in a canonical order: by the position of the byte that
//     revealed them, then by type.
//   - Each anchor is evaluated, in queue order, on a window of fixed extent
//     around it, once the whole window has arrived (or the text ended).
//     Budget is charged in that order, so it runs out at the same anchor.
//   - Overlapping candidates merge into one redaction. Text is emitted only
//     up to the frontier: no anchor still pending or not yet revealed can
//     produce a candidate that starts before it.

type anchorType uint8

// Anchor types, in the order anchors revealed by the same byte are queued.
const (
	anchorCredential anchorType = iota
	anchorSecret
	anchorNumber
	anchorEmail
	anchorPhone // the libphonenumber part of a number, which spends budget
)

type anchorState uint8

const (
	anchorPending    anchorState = iota // secret hit: prefilter not decided yet
	anchorAdmitted                      // waiting for its window
	anchorExhausting                    // the prefilter allowance ran out here
	anchorDone
)

// anchorKey orders anchors canonically: by the position just past the byte
// that revealed them, then type, rule and start. It never depends on where
// chunks ended.
type anchorKey struct {
	disc int
	typ  anchorType
	id   int32 // secret rule, or credential pattern
	pos  int   // hit start, first digit, or '@'
}

func (k anchorKey) compare(o anchorKey) int {
	return cmp.Or(cmp.Compare(k.disc, o.disc), cmp.Compare(k.typ, o.typ),
		cmp.Compare(k.id, o.id), cmp.Compare(k.pos, o.pos))
}

type anchor struct {
	anchorKey
	state  anchorState
	span   int32 // bytes the prefilter looks at next (secret hits)
	ws, we int   // window; may reach outside the text
}

// Windows of the PII anchors, relative to the anchor.
const (
	numberBack = 6  // '+', '(' or IBAN country letters, and the byte before
	numberFwd  = 80 // longest card, IBAN, phone (with extension) or ID
	emailBack  = 65 // 64-byte local part and the byte before it
	emailFwd   = 258
)

// cand is a detection not yet turned into output.
type cand struct {
	start, end int
	kind       Kind
	rule       string
	action     Action
	key        anchorKey // the anchor that produced it
}

type scanner struct {
	p   *Policy
	bud *budget

	buf    []byte // buf[bstart:] is the input from base on, not yet emitted
	bstart int
	base   int
	eof    bool

	scanned            int
	kwState, credState uint32
	prevDigit          bool
	secretsOn          bool
	numbersOn          bool
	emailsOn           bool

	// queue holds the anchors still to evaluate, in key order. Anchors
	// whose evaluation is pure (no budget, no state) are evaluated as soon
	// as their window is there and only queued when it is not.
	queue      []anchor
	head       int
	fresh      []anchor
	group      []anchor // keyword hits ending at one byte, before sorting
	pendingPre int      // secret hits whose prefilter is not decided yet
	preOut     bool     // the prefilter allowance ran out
	lastEnd    []int    // per secret rule: end of its last match
	cands      []cand
	curKey     anchorKey // key for candidates added now

	out        []byte
	findings   []Finding
	drop       bool
	halting    bool // budget ran out with OnExhausted=block: stop at cutoff
	cutoff     int
	haltKey    anchorKey
	stopped    bool
	stopPos    int
	blocked    *BlockedError
	exhaustPos int
	noSecrets  bool // budget ran out with OnExhausted=report
	scratch    []byte
	runBuf     []allowRun // allowlist regex runs
	err        error
}

func newScanner(p *Policy, bud *budget) *scanner {
	return &scanner{
		p: p, bud: bud, exhaustPos: -1,
		secretsOn: anyOn(p.ruleAct),
		numbersOn: p.action(KindCard) != ActionOff || p.action(KindIBAN) != ActionOff ||
			p.action(KindPhone) != ActionOff || (p.action(KindNationalID) != ActionOff && len(p.natIDs) > 0),
		emailsOn: p.action(KindEmail) != ActionOff,
	}
}

func anyOn(acts []Action) bool {
	for _, a := range acts {
		if a != ActionOff {
			return true
		}
	}
	return false
}

// errInternal marks a broken invariant; callers fail closed on it.
var errInternal = errors.New("redaction engine invariant violated")

// write consumes one chunk; eof marks the end of the text. Output ready so
// far accumulates in s.out.
func (s *scanner) write(chunk []byte, eof bool) {
	if s.stopped || s.err != nil {
		return
	}
	if s.bstart > 0 {
		n := copy(s.buf, s.buf[s.bstart:])
		s.buf, s.bstart = s.buf[:n], 0
	}
	s.buf = append(s.buf, chunk...)
	s.eof = eof
	s.discover()
	s.evaluate()
	if s.err == nil {
		s.finalize()
	}
}

func (s *scanner) end() int { return s.base + len(s.buf) - s.bstart }

// bytes returns the input between absolute offsets; both must be buffered.
func (s *scanner) bytes(from, to int) []byte {
	return s.buf[s.bstart+from-s.base : s.bstart+to-s.base]
}

// discover finds the anchors revealed by the bytes not yet scanned.
func (s *scanner) discover() {
	text := s.bytes(s.scanned, s.end())
	off := s.scanned
	s.fresh = s.fresh[:0]
	if c := s.p.creds; c != nil {
		s.credState = c.ac.scan(s.credState, text, func(id int32, end int) {
			e := off + end
			start := e - c.ac.lens[id]
			s.curKey = anchorKey{disc: e, typ: anchorCredential, id: id, pos: start}
			s.addCand(start, e, KindCredential, c.rules[id], s.p.action(KindCredential))
		})
	}
	if s.secretsOn {
		s.discoverKeywords(text, off)
	}
	if s.numbersOn || s.emailsOn {
		s.discoverPII(text, off)
	}
	slices.SortFunc(s.fresh, func(a, b anchor) int { return a.compare(b.anchorKey) })
	s.queue = append(s.queue, s.fresh...)
	s.scanned = s.end()
}

// discoverKeywords queues a secret anchor per rule a keyword hit triggers.
// Where the bytes are already there the prefilter runs at once, so the hits
// keyword stuffing produces never become anchors at all. Prefilters are
// charged in key order: once one has to wait for bytes, later ones wait too.
func (s *scanner) discoverKeywords(text []byte, off int) {
	rs := s.p.rules
	end := s.end()
	groupEnd := -1
	s.kwState = rs.ac.scan(s.kwState, text, func(id int32, hitEnd int) {
		e := off + hitEnd
		if e != groupEnd {
			s.flushGroup(end)
			groupEnd = e
		}
		p := e - rs.ac.lens[id]
		for _, ri := range rs.triggers[id] {
			if s.p.ruleAct[ri] != ActionOff {
				r := rs.rules[ri]
				s.group = append(s.group, anchor{anchorKey: anchorKey{disc: e, typ: anchorSecret, id: ri, pos: p},
					ws: p - r.back, we: p + r.fwd})
			}
		}
	})
	s.flushGroup(end)
}

func (s *scanner) flushGroup(end int) {
	if len(s.group) > 1 {
		slices.SortFunc(s.group, func(a, b anchor) int { return a.compare(b.anchorKey) })
	}
	for i := range s.group {
		a := &s.group[i]
		if s.pendingPre == 0 && s.prefilter(a, end) {
			if a.state == anchorDone {
				continue
			}
		} else {
			s.pendingPre++
		}
		s.fresh = append(s.fresh, *a)
	}
	s.group = s.group[:0]
}

func (s *scanner) discoverPII(text []byte, off int) {
	end := s.end()
	for i, c := range text {
		digit := c-'0' < 10
		var a anchor
		switch {
		case digit && !s.prevDigit && s.numbersOn:
			p := off + i
			a = anchor{anchorKey: anchorKey{disc: p + 1, typ: anchorNumber, pos: p}, ws: p - numberBack, we: p + numberFwd}
		case c == '@' && s.emailsOn:
			p := off + i
			a = anchor{anchorKey: anchorKey{disc: p + 1, typ: anchorEmail, pos: p}, ws: p - emailBack, we: p + emailFwd}
		default:
			s.prevDigit = digit
			continue
		}
		s.prevDigit = digit
		a.state = anchorAdmitted
		if s.eof || end >= a.we {
			s.evalAnchor(&a, end, false) // pure: now; a phone part is queued
			continue
		}
		s.fresh = append(s.fresh, a)
	}
}

// evaluate runs prefilters wherever their bytes have arrived (they are pure),
// then evaluates anchors strictly in queue order as their windows complete.
func (s *scanner) evaluate() {
	end := s.end()
	for i := s.head; i < len(s.queue) && s.pendingPre > 0; i++ {
		if a := &s.queue[i]; a.state == anchorPending {
			if !s.prefilter(a, end) {
				break // keep the charging order
			}
			s.pendingPre--
		}
	}
	for s.head < len(s.queue) && !s.halting && s.err == nil {
		a := &s.queue[s.head]
		if a.state == anchorDone {
			s.head++
			continue
		}
		if a.state == anchorExhausting {
			s.exhausted(a)
			a.state = anchorDone
			s.head++
			continue
		}
		if a.state == anchorPending || (!s.eof && end < a.we) {
			break
		}
		s.evalAnchor(a, end, true)
		a.state = anchorDone
		s.head++
	}
	if s.head > 64 && s.head*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		s.queue, s.head = s.queue[:n], 0
	}
}

// prefilter decides a secret hit once the bytes it needs are there and
// reports whether it could. It spends the prefilter allowance; the hit
// where that runs out is kept as an anchorExhausting, and every later hit
// is dropped undecided. A run that goes on past the bytes looked at makes
// it look again, four times as far, up to the rule's window.
func (s *scanner) prefilter(a *anchor, end int) bool {
	r := s.p.rules.rules[a.id]
	if s.preOut {
		a.state = anchorDone
		return true
	}
	if r.mode == modeWindow {
		a.state = anchorAdmitted
		return true
	}
	for {
		span := max(int(a.span), prefilterSpan)
		stop := min(a.pos+span, a.we)
		if !s.eof && end < stop {
			a.span = int32(span)
			return false
		}
		stop = min(stop, end)
		// The regex will read no further than the window, so its end is
		// as final as the end of the text.
		final := (s.eof && stop == end) || stop == a.we
		ok, reach, more, work := r.pre.admits(s.bytes(a.pos, stop), final)
		if !s.bud.chargePrefilter(costPrefilterCall+work, a.pos) {
			s.preOut, a.state = true, anchorExhausting
			return true
		}
		switch {
		case !ok:
			a.state = anchorDone
		case reach >= 0:
			// No match can end past reach: the regex needs only up to
			// there, plus the byte after it for \b and $.
			a.state, a.we = anchorAdmitted, min(a.we, a.pos+reach+1+ctxBytes)
		case more && stop < a.we:
			a.span = int32(4 * span)
			continue
		default:
			a.state = anchorAdmitted
		}
		return true
	}
}

// window is the part of the input an anchor's evaluation may read.
type window struct {
	text []byte
	off  int  // absolute offset of text[0]
	bot  bool // text starts at the start of the input
	eot  bool // text ends at the end of the input
}

// at returns the byte at an absolute offset, if it is inside the window.
func (w *window) at(abs int) (byte, bool) {
	i := abs - w.off
	if i < 0 || i >= len(w.text) {
		return 0, false
	}
	return w.text[i], true
}

// evalAnchor evaluates a on its window. queued says a is the queue's head,
// i.e. evaluated in canonical order; a number anchor evaluated early only
// does its pure part and queues its phone validation.
func (s *scanner) evalAnchor(a *anchor, end int, queued bool) {
	ws, we := max(a.ws, 0), a.we
	if s.eof {
		we = min(we, end)
	}
	if ws < s.base || we > end {
		s.err = errInternal
		return
	}
	w := window{text: s.bytes(ws, we), off: ws, bot: a.ws <= 0, eot: s.eof && we == end}
	s.curKey = a.anchorKey
	switch a.typ {
	case anchorSecret:
		s.evalSecretAnchor(a, &w)
	case anchorNumber:
		if !s.evalNumber(&w, a.pos) {
			return
		}
		if queued {
			s.evalPhone(&w, a.pos)
			return
		}
		ph := *a
		ph.typ = anchorPhone
		s.fresh = append(s.fresh, ph)
	case anchorEmail:
		s.evalEmail(&w, a.pos)
	case anchorPhone:
		s.evalPhone(&w, a.pos)
	}
}

func (s *scanner) evalSecretAnchor(a *anchor, w *window) {
	if s.noSecrets {
		return
	}
	if s.lastEnd == nil {
		s.lastEnd = make([]int, len(s.p.rules.rules))
	}
	r := s.p.rules.rules[a.id]
	if a.pos < s.lastEnd[a.id] && r.mode == modeAnchored {
		return // inside this rule's previous match, as FindAll would skip it
	}
	if !s.bud.charge(r.cost(len(w.text)), w.off+len(w.text)) {
		s.exhausted(a)
		return
	}
	s.evalSecret(r, a, w)
}

// exhausted handles the budget running out at anchor a. With block, the
// output stops where a's window starts, and candidates of anchors after a
// (which a split input may not have evaluated yet) are ignored.
func (s *scanner) exhausted(a *anchor) {
	pos := max(a.ws, 0)
	if s.exhaustPos < 0 {
		s.exhaustPos = pos
	}
	if s.p.cfg.Budget.OnExhausted == ActionBlock {
		s.halting, s.cutoff, s.haltKey = true, max(pos, s.base), a.anchorKey
		return
	}
	s.noSecrets = true
}

func (s *scanner) addCand(start, end int, kind Kind, rule string, action Action) {
	if action == ActionOff || end <= start {
		return
	}
	s.cands = append(s.cands, cand{start: start, end: end, kind: kind, rule: rule, action: action, key: s.curKey})
}

// frontier is the offset before which no further candidate can start.
func (s *scanner) frontier() int {
	end := s.end()
	if s.halting {
		return s.cutoff
	}
	f := end
	if !s.eof {
		f = end - s.p.discBack
	}
	for i := s.head; i < len(s.queue); i++ {
		if a := &s.queue[i]; a.state != anchorDone {
			f = min(f, max(a.ws, 0))
		}
	}
	return max(f, s.base)
}
