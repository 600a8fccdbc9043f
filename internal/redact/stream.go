package redact

import "slices"

// budget is the work allowance of one body, shared by every text in it.
// Secret matching may use Base + PerByte × (bytes up to the window being
// evaluated): tied to positions in the text, not to when bytes arrived, so
// it runs out at the same place however the text is split.
type budget struct {
	base, perByte int
	used          int
	preUsed       int // prefilter work, allowed a third of the same
	prior         int // bytes of earlier texts of the same body
	phoneLeft     int
	phoneCache    map[phoneKey]bool
}

func newBudget(p *Policy) *budget {
	return &budget{
		base: p.cfg.Budget.Base, perByte: p.cfg.Budget.PerByte,
		phoneLeft: p.cfg.MaxPhoneValidations, phoneCache: map[phoneKey]bool{},
	}
}

// charge takes cost if the allowance at position pos covers it.
func (b *budget) charge(cost, pos int) bool {
	if b.used+cost > b.base+b.perByte*(b.prior+pos) {
		return false
	}
	b.used += cost
	return true
}

// chargePrefilter takes cost from the prefilter allowance at pos.
func (b *budget) chargePrefilter(cost, pos int) bool {
	if 3*(b.preUsed+cost) > b.base+b.perByte*(b.prior+pos) {
		return false
	}
	b.preUsed += cost
	return true
}

// TextResult is the outcome of redacting one text.
type TextResult struct {
	Text     []byte
	Findings []Finding
	// Exhausted: the secret budget ran out; with OnExhausted=report the
	// rest of the text was not searched for secrets.
	Exhausted bool
	// Drop: a finding's action is drop; the caller should discard the
	// item the text belongs to (the text itself is masked).
	Drop bool
	// Blocked is set when a finding (or, with OnExhausted=block, the
	// budget) withholds the text; Text then holds only what preceded it.
	Blocked *BlockedError
}

// RedactText redacts one whole text under p.
func (p *Policy) RedactText(text []byte) TextResult {
	s := newScanner(p, newBudget(p))
	s.writeAll(text)
	return s.result()
}

// wholeChunk is how a whole text is fed to the scanner. The result does not
// depend on it; it only lets processing stop soon after the budget runs out
// instead of first discovering every anchor of a large text.
const wholeChunk = 4096

func (s *scanner) writeAll(text []byte) {
	for len(text) > wholeChunk && !s.stopped && s.err == nil {
		s.write(text[:wholeChunk], false)
		text = text[wholeChunk:]
	}
	s.write(text, true)
}

func (s *scanner) result() TextResult {
	r := TextResult{Text: s.out, Drop: s.drop && s.blocked == nil, Blocked: s.blocked}
	r.Exhausted = s.exhaustedReported()
	r.Findings = slices.Clone(s.findings)
	if !slices.IsSortedFunc(r.Findings, compareFindings) {
		slices.SortFunc(r.Findings, compareFindings)
	}
	if s.err != nil {
		r.Text, r.Blocked = nil, &BlockedError{Reason: ReasonInternal}
	}
	return r
}

func compareFindings(a, b Finding) int {
	return compareCands(cand{start: a.Start, end: a.End, kind: a.Kind, rule: a.Rule},
		cand{start: b.Start, end: b.End, kind: b.Kind, rule: b.Rule})
}

// Stream redacts one text that arrives in chunks split anywhere (inside a
// secret, a UTF-8 sequence, a number). Output and findings are exactly those
// of RedactText on the concatenated input. It holds back at most a window
// of the input (the longest secret a rule allows, MaxSecretLen, plus
// context), and longer only while overlapping findings keep extending one
// redaction. Not safe for concurrent use.
type Stream struct {
	s *scanner
}

// NewStream starts redacting a text.
func (p *Policy) NewStream() *Stream {
	return &Stream{s: newScanner(p, newBudget(p))}
}

// Write consumes the next chunk and returns the redacted output that is now
// final (possibly empty). After a block it returns the *BlockedError and
// consumes nothing more.
func (st *Stream) Write(chunk []byte) ([]byte, error) {
	return st.step(chunk, false)
}

// Close ends the text and returns the rest of the output.
func (st *Stream) Close() ([]byte, error) {
	return st.step(nil, true)
}

func (st *Stream) step(chunk []byte, eof bool) ([]byte, error) {
	s := st.s
	s.write(chunk, eof)
	out := s.out
	s.out = nil
	if s.err != nil {
		return nil, &BlockedError{Reason: ReasonInternal}
	}
	if s.blocked != nil {
		return out, s.blocked
	}
	return out, nil
}

// Result reports the findings so far (complete after Close); Text is nil.
func (st *Stream) Result() TextResult {
	r := st.s.result()
	r.Text = nil
	return r
}

// Buffered reports how many input bytes are held back.
func (st *Stream) Buffered() int { return st.s.end() - st.s.base }
