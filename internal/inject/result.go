package inject

import (
	"encoding/json"
	"strings"
)

// Family groups rules by what the matched text tries to do.
type Family string

const (
	// FamilyInstruction is text addressed to the model: "ignore previous
	// instructions", "you are now …", directives about its response.
	FamilyInstruction Family = "instruction"
	// FamilyDelimiter is a forged role or boundary token (<|im_start|>,
	// [INST], "### System:", </tool_result>).
	FamilyDelimiter Family = "delimiter"
	// FamilyExfiltration is an attempt to move data out or to make the agent
	// call tools: "send the conversation to …", image links with query
	// parameters, "call the X tool".
	FamilyExfiltration Family = "exfiltration"
	// FamilyHidden is content a human reader would not see: HTML comments,
	// display:none, white or zero-size text, markdown comments.
	FamilyHidden Family = "hidden"
	// FamilyObfuscation is evidence of evasion found while normalizing:
	// Unicode tag characters, zero-width characters inside words, bidi
	// overrides, mixed-script words, a rule matching only after
	// normalization, an instruction inside an encoded blob.
	FamilyObfuscation Family = "obfuscation"
)

// Families lists every family in a stable order.
var Families = []Family{FamilyInstruction, FamilyDelimiter, FamilyExfiltration, FamilyHidden, FamilyObfuscation}

// Layer says where in the text a finding was made.
type Layer string

const (
	// LayerText is the text itself (after normalization).
	LayerText Layer = ""
	// LayerTags is text spelled with invisible Unicode tag characters.
	LayerTags Layer = "tags"
	// LayerBase64, LayerHex, LayerURL and LayerEntities are decoded blobs.
	LayerBase64   Layer = "base64"
	LayerHex      Layer = "hex"
	LayerURL      Layer = "url"
	LayerEntities Layer = "html-entities"
)

// Finding is one rule match.
type Finding struct {
	// Rule is a stable rule id such as "ignore-previous".
	Rule   string `json:"rule"`
	Family Family `json:"family"`
	// Span is the byte range [start, end) in the text passed to Detect. For
	// a finding inside a decoded layer it is the whole encoded blob.
	Span [2]int `json:"span"`
	// Excerpt is the matched text as normalized (lower case, folded),
	// printable ASCII only, at most MaxExcerpt bytes: safe for logs and
	// audit events.
	Excerpt string  `json:"excerpt"`
	Layer   Layer   `json:"layer,omitempty"`
	Weight  float64 `json:"weight"`
}

// MaxExcerpt is the longest Finding.Excerpt.
const MaxExcerpt = 80

// Flags are properties of the whole text.
type Flags uint32

const (
	// FlagTagChars: Unicode tag characters outside an emoji flag.
	FlagTagChars Flags = 1 << iota
	// FlagZeroWidthInWord: a zero-width character between two letters.
	FlagZeroWidthInWord
	// FlagBidiControl: bidi embedding, override or isolate characters.
	FlagBidiControl
	// FlagMixedScript: a word mixing Latin with Cyrillic/Greek look-alikes.
	FlagMixedScript
	// FlagInvalidUTF8: bytes that are not UTF-8 (skipped).
	FlagInvalidUTF8
	// FlagEncodedPayload: a decoded blob produced findings.
	FlagEncodedPayload
	// FlagTruncated: part of the text was not examined: it was longer than
	// the scan limit, or held more encoded blobs than the decode budget.
	FlagTruncated
	// FlagFindingsCapped: more matches than could be kept (MaxFindings in
	// all, 16 per rule); the rest were dropped. The score already reflects
	// the rules that fired, but Neutralize would leave the dropped ones in
	// place, so Policies.Apply blocks instead of neutralizing.
	FlagFindingsCapped
	// FlagClassifierError: the external classifier failed and its fail
	// mode decided its contribution.
	FlagClassifierError
	// FlagScanBudget: the text held so many near-matches that the rules
	// stopped before its end; the scan-budget-exceeded finding covers the
	// whole text and scores high (fail closed).
	FlagScanBudget
)

var flagNames = []string{
	"tag_chars", "zero_width_in_word", "bidi_control", "mixed_script",
	"invalid_utf8", "encoded_payload", "truncated", "findings_capped",
	"classifier_error", "scan_budget_exceeded",
}

// Names returns the set flags' names in a stable order.
func (f Flags) Names() []string {
	var out []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (f Flags) String() string { return strings.Join(f.Names(), ",") }

// MarshalJSON writes the flags as a list of names.
func (f Flags) MarshalJSON() ([]byte, error) {
	n := f.Names()
	if n == nil {
		n = []string{}
	}
	return json.Marshal(n)
}

// Result is the outcome of one Detect call.
type Result struct {
	// Score is in [0, 1]: the combined weight of the rules that fired (and
	// of the classifier, when one is configured).
	Score    float64   `json:"score"`
	Findings []Finding `json:"findings,omitempty"`
	Flags    Flags     `json:"flags"`
	// RuleScore is the score from rules alone; Classifier is the external
	// classifier's score (or its fail-mode value), -1 when none was asked.
	RuleScore  float64 `json:"rule_score"`
	Classifier float64 `json:"classifier"`
	// Scanned is how many bytes of the input were examined.
	Scanned int `json:"scanned"`
}

// Has reports whether any finding came from the given family.
func (r Result) Has(f Family) bool {
	for _, x := range r.Findings {
		if x.Family == f {
			return true
		}
	}
	return false
}

// Rules returns the distinct rule ids that fired, in first-seen order.
func (r Result) Rules() []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range r.Findings {
		if !seen[x.Rule] {
			seen[x.Rule] = true
			out = append(out, x.Rule)
		}
	}
	return out
}
