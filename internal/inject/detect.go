package inject

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Defaults for Options.
const (
	// DefaultMaxScanBytes is how much of a text one Detect call examines.
	// Tool results larger than this are scanned only up to here and carry
	// FlagTruncated; the caller decides what an unscanned tail means.
	DefaultMaxScanBytes = 256 << 10
	// DefaultMaxFindings bounds Result.Findings.
	DefaultMaxFindings = 64
	// maxDepth is how many decoding layers deep the detector looks (a
	// base64 blob inside a URL-encoded one is depth 2).
	maxDepth = 2
	// maxFoldExpansion bounds the folded text relative to the input: NFKD
	// can turn one rune into eighteen.
	maxFoldExpansion = 2
)

// Options configures a Detector. The zero value is usable.
type Options struct {
	// MaxScanBytes caps the bytes examined per call (default
	// DefaultMaxScanBytes).
	MaxScanBytes int
	// MaxFindings caps Result.Findings (default DefaultMaxFindings).
	MaxFindings int
	// Classifier, when set, is consulted by DetectContext.
	Classifier Classifier
}

// Detector finds likely prompt-injection text. It is immutable and safe for
// concurrent use.
type Detector struct {
	rules       *ruleSet
	maxScan     int
	maxFindings int
	classifier  Classifier
}

var compiledRules = sync.OnceValues(func() (*ruleSet, error) { return compileRules(ruleSpecs) })

// New returns a Detector with the built-in rules.
func New(o Options) (*Detector, error) {
	if o.MaxScanBytes < 0 || o.MaxFindings < 0 {
		return nil, errors.New("inject: MaxScanBytes and MaxFindings must not be negative")
	}
	rs, err := compiledRules()
	if err != nil {
		return nil, err
	}
	d := &Detector{rules: rs, maxScan: o.MaxScanBytes, maxFindings: o.MaxFindings, classifier: o.Classifier}
	if d.maxScan == 0 {
		d.maxScan = DefaultMaxScanBytes
	}
	if d.maxFindings == 0 {
		d.maxFindings = DefaultMaxFindings
	}
	return d, nil
}

// Detect examines text with the rules only. It is deterministic: the same
// text always gives the same Result.
func (d *Detector) Detect(text string) Result {
	var flags Flags
	if len(text) > d.maxScan {
		cut := d.maxScan
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
		flags |= FlagTruncated
	}
	acc := &accum{d: d, fired: make([]float64, len(d.rules.ids)), budget: d.maxScan, flags: flags}
	acc.scan(text, 0, nil, LayerText)
	score := acc.score()
	return Result{Score: score, RuleScore: score, Classifier: -1, Findings: acc.findings, Flags: acc.flags, Scanned: len(text)}
}

// DetectContext runs Detect and, when a Classifier is configured, asks it
// too; the score is the larger of the two. A classifier error is returned
// for logging, but the Result is always usable: the classifier's fail mode
// has already decided its score (see Classifier), and FlagClassifierError
// is set.
func (d *Detector) DetectContext(ctx context.Context, text string) (Result, error) {
	r := d.Detect(text)
	if d.classifier == nil {
		return r, nil
	}
	s, err := d.classifier.Classify(ctx, text[:r.Scanned])
	if err != nil {
		r.Flags |= FlagClassifierError
		if !(s >= 0 && s <= 1) {
			s = 1 // a classifier that fails without a usable score fails closed
		}
		err = fmt.Errorf("inject: classifier: %w", err)
	}
	r.Classifier = s
	r.Score = max(r.RuleScore, s)
	return r, err
}

// accum collects findings across layers of one Detect call.
type accum struct {
	d        *Detector
	findings []Finding
	fired    []float64 // by rule id index
	budget   int       // bytes of decoded text still allowed
	flags    Flags
}

func (a *accum) add(f Finding, idx int) {
	a.fired[idx] = a.d.rules.ids[idx].weight
	if len(a.findings) >= a.d.maxFindings {
		a.flags |= FlagFindingsCapped
		return
	}
	a.findings = append(a.findings, f)
}

// scan examines text found at depth; outer is the span every finding is
// reported at when text is a decoded layer (nil at depth 0). It reports
// whether any instruction, delimiter or exfiltration rule fired.
func (a *accum) scan(text string, depth int, outer *[2]int, kind Layer) bool {
	rs := a.d.rules
	fr := fold(text, maxFoldExpansion*len(text)+64)
	a.flags |= fr.flags
	if fr.truncated {
		a.flags |= FlagTruncated
	}
	at := func(span [2]int) [2]int {
		if outer != nil {
			return *outer
		}
		return span
	}
	primary := false
	sr := rs.scan(fr.text)
	if sr.exhausted {
		a.flags |= FlagScanBudget
		a.addSignal(ruleBudget, at([2]int{0, len(text)}), "", kind)
		primary = true
	}
	if sr.capped {
		a.flags |= FlagFindingsCapped
	}
	for _, m := range sr.matches {
		r := &rs.rules[m.rule]
		span := [2]int{int(fr.src[m.start]), fr.origEnd(text, m.end-1)}
		a.add(Finding{Rule: r.id, Family: r.family, Span: at(span), Excerpt: excerpt(fr.text[m.start:m.end]), Layer: kind, Weight: r.weight}, r.idx)
		if r.family != FamilyHidden {
			primary = true
			if outer == nil && obfuscated(text[span[0]:span[1]]) {
				a.addSignal(ruleObfuscated, span, excerpt(fr.text[m.start:m.end]), kind)
			}
		}
	}
	for _, sg := range fr.signals {
		ex := sg.text
		if ex == "" {
			ex = text[sg.span[0]:sg.span[1]]
		}
		a.addSignal(sg.rule, at(sg.span), excerpt(ex), kind)
	}
	layers := fr.tagLayers
	if depth < maxDepth {
		blobs, dropped := findLayers(text, a.budget)
		if dropped {
			a.flags |= FlagTruncated // some blobs were not decoded
		}
		layers = append(layers, blobs...)
	}
	for _, l := range layers {
		a.budget -= len(l.text)
		span := at(l.span)
		if a.scan(l.text, depth+1, &span, l.kind) {
			primary = true
			if l.kind != LayerTags {
				a.flags |= FlagEncodedPayload
				a.addSignal(ruleEncoded, span, excerpt(l.text), l.kind)
			}
		}
	}
	return primary
}

func (a *accum) addSignal(rule string, span [2]int, ex string, kind Layer) {
	idx := a.d.rules.idIdx[rule]
	a.add(Finding{Rule: rule, Family: FamilyObfuscation, Span: span, Excerpt: ex, Layer: kind, Weight: a.d.rules.ids[idx].weight}, idx)
}

// obfuscated reports whether a match's original text contains characters
// that folding changed in a way ordinary text does not need: non-ASCII
// letters standing in for ASCII ones, invisible format characters, or
// combining marks. Typographic quotes and non-breaking spaces do not count.
func obfuscated(orig string) bool {
	for _, r := range orig {
		if r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me)) {
			return true
		}
	}
	return false
}

// excerpt makes s safe to log: printable ASCII only (anything else becomes
// '?'), whitespace runs collapsed, at most MaxExcerpt bytes.
func excerpt(s string) string {
	out := make([]byte, 0, min(len(s), MaxExcerpt))
	space, cut := false, false
	for _, r := range s {
		if len(out) >= MaxExcerpt {
			cut = true
			break
		}
		switch {
		case r == ' ' || r == '\n' || r == '\t' || r == '\r':
			if !space && len(out) > 0 {
				out = append(out, ' ')
			}
			space = true
			continue
		case r > 0x20 && r < 0x7f:
			out = append(out, byte(r))
		default:
			out = append(out, '?')
		}
		space = false
	}
	if cut {
		out = append(out[:MaxExcerpt-3], "..."...)
	}
	return string(out)
}
