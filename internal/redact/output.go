package redact

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// finalize turns every candidate that can no longer change into output and
// emits the text before the frontier.
func (s *scanner) finalize() {
	f := s.frontier()
	if s.halting {
		// Only what the anchors before the exhausted one produced counts:
		// a split input may not have evaluated the later ones yet.
		s.cands = slices.DeleteFunc(s.cands, func(c cand) bool { return c.key.compare(s.haltKey) > 0 })
	}
	if !slices.IsSortedFunc(s.cands, compareCands) {
		slices.SortFunc(s.cands, compareCands)
	}
	i := 0
	limit := f
	for i < len(s.cands) {
		c := s.cands[i]
		if c.start >= f {
			break
		}
		if !c.action.modifies() {
			s.record(c)
			i++
			continue
		}
		regionEnd, j := c.end, i+1
		for ; j < len(s.cands) && s.cands[j].start < regionEnd; j++ {
			if s.cands[j].action.modifies() {
				regionEnd = max(regionEnd, s.cands[j].end)
			}
		}
		if regionEnd > f {
			limit = c.start // still open: a later candidate may extend it
			break
		}
		if !s.emitRegion(s.cands[i:j], c.start, regionEnd) {
			s.cands = s.cands[:0]
			return
		}
		i = j
	}
	s.cands = append(s.cands[:0], s.cands[i:]...)
	if limit > s.base {
		s.emitRaw(limit)
	}
	if s.halting {
		s.stop(s.cutoff, &BlockedError{Reason: ReasonBudgetExhausted})
	}
}

func compareCands(a, b cand) int {
	if a.start != b.start {
		return cmp.Compare(a.start, b.start)
	}
	if a.end != b.end {
		return cmp.Compare(a.end, b.end)
	}
	return cmp.Or(cmp.Compare(a.kind.index(), b.kind.index()), strings.Compare(a.rule, b.rule))
}

// emitRaw copies input up to the absolute offset to the output.
func (s *scanner) emitRaw(to int) {
	s.out = append(s.out, s.bytes(s.base, to)...)
	s.bstart += to - s.base
	s.base = to
}

// emitRegion writes one redaction covering [start, end) and records its
// findings. It returns false when the region blocks the result.
func (s *scanner) emitRegion(cs []cand, start, end int) bool {
	best := -1
	for i, c := range cs {
		if !c.action.modifies() {
			continue
		}
		if best < 0 || strongerCand(c, cs[best]) {
			best = i
		}
	}
	for i, c := range cs {
		if !suppressedGeneric(c, cs) || i == best {
			s.record(c)
		}
	}
	dom := cs[best]
	s.emitRaw(start)
	if dom.action == ActionBlock {
		s.stop(start, &BlockedError{Reason: ReasonFinding, Kind: dom.kind, Rule: dom.rule})
		return false
	}
	s.out = append(s.out, s.replacement(dom, s.bytes(start, end))...)
	s.bstart += end - s.base
	s.base = end
	if dom.action == ActionDrop {
		s.drop = true
	}
	return true
}

// strongerCand: the strongest action labels a region; among equals, the
// kind listed first in Kinds, then the earlier candidate.
func strongerCand(a, b cand) bool {
	if sa, sb := a.action.strength(), b.action.strength(); sa != sb {
		return sa > sb
	}
	return a.kind.index() < b.kind.index()
}

// genericRule is gitleaks' catch-all; like gitleaks, a generic finding is
// not reported when a specific rule found the same secret.
const genericRule = "generic-api-key"

func suppressedGeneric(c cand, region []cand) bool {
	if c.rule != genericRule {
		return false
	}
	for _, o := range region {
		if o.kind == KindSecret && o.rule != genericRule && o.start <= c.start && c.end <= o.end {
			return true
		}
	}
	return false
}

func (s *scanner) record(c cand) {
	s.findings = append(s.findings, Finding{Kind: c.kind, Rule: c.rule, Start: c.start, End: c.end, Action: c.action})
}

// replacement is what a region becomes: the kind's mask, or a truncated
// SHA-256 (HMAC-SHA256 with the policy's key) of the redacted bytes.
func (s *scanner) replacement(c cand, secret []byte) string {
	if c.action != ActionHash {
		return maskText(c.kind)
	}
	var sum []byte
	if key := s.p.cfg.HashKey; len(key) > 0 {
		m := hmac.New(sha256.New, key)
		m.Write(secret)
		sum = m.Sum(nil)
	} else {
		h := sha256.Sum256(secret)
		sum = h[:]
	}
	return "[SHA256:" + hex.EncodeToString(sum)[:12] + "]"
}

// stop ends processing at pos: nothing after it is emitted or reported.
func (s *scanner) stop(pos int, why *BlockedError) {
	if s.stopped {
		return
	}
	s.stopped, s.stopPos = true, pos
	s.blocked = why
	s.cands = s.cands[:0]
}

// exhaustedReported says whether the budget ran out before processing
// stopped for another reason, which is what the caller is told.
func (s *scanner) exhaustedReported() bool {
	return s.exhaustPos >= 0 && (!s.stopped || s.exhaustPos <= s.stopPos)
}

var masks = func() map[Kind]string {
	m := make(map[Kind]string, len(Kinds))
	for _, k := range Kinds {
		m[k] = "[REDACTED:" + string(k) + "]"
	}
	return m
}()

func maskText(k Kind) string { return masks[k] }
