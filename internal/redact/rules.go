package redact

import (
	"fmt"
	"regexp"
	"regexp/syntax"

	"github.com/BurntSushi/toml"
)

// The secret rules are gitleaks' default rule set, read as data from the
// TOML embedded in its config package. gitleaks' own loader goes through
// viper's process-global state; decoding the TOML here keeps that out of the
// gateway entirely, and lets each rule be compiled for anchored matching.

// tomlConfig is the subset of gitleaks' config format the redactor reads.
// Unknown keys are refused, so a format change fails loudly at start-up.
type tomlConfig struct {
	Title      string
	MinVersion string `toml:"minVersion"`
	Allowlist  *tomlAllowlist
	Allowlists []tomlAllowlist
	Rules      []tomlRule
}

type tomlRule struct {
	ID          string
	Description string
	Regex       string
	Path        string
	SecretGroup int `toml:"secretGroup"`
	Entropy     float64
	Keywords    []string
	Tags        []string
	SkipReport  bool `toml:"skipReport"`
	Allowlist   *tomlAllowlist
	Allowlists  []tomlAllowlist
	Required    []map[string]any
}

type tomlAllowlist struct {
	Description string
	Condition   string
	Commits     []string
	Paths       []string
	RegexTarget string `toml:"regexTarget"`
	Regexes     []string
	StopWords   []string `toml:"stopwords"`
	TargetRules []string `toml:"targetRules"`
}

// ruleSet is the compiled secret rules plus the keyword automaton that
// triggers them. Immutable and shared by every Policy.
type ruleSet struct {
	rules    []*secretRule
	global   []*allowlist
	ac       *automaton
	triggers [][]int32 // AC pattern id -> indexes of the rules it triggers
	maxBack  int       // furthest a window reaches before a hit's end
	skipped  []string  // rule ids not usable on a bare text (path rules)
}

// compileRules decodes a gitleaks TOML config and compiles every rule that
// can apply to text without a file path.
func compileRules(src string, maxSecretLen int) (*ruleSet, error) {
	var cfg tomlConfig
	md, err := toml.Decode(src, &cfg)
	if err != nil {
		return nil, fmt.Errorf("gitleaks config: %w", err)
	}
	if extra := md.Undecoded(); len(extra) > 0 {
		return nil, fmt.Errorf("gitleaks config: unsupported keys %v", extra)
	}
	rs := &ruleSet{}
	targeted, err := rs.compileGlobalAllowlists(cfg)
	if err != nil {
		return nil, err
	}
	var patterns []string
	patternID := map[string]int{}
	for _, tr := range cfg.Rules {
		r, err := compileRule(tr, maxSecretLen)
		if err != nil {
			return nil, fmt.Errorf("gitleaks rule %q: %w", tr.ID, err)
		}
		if r == nil {
			rs.skipped = append(rs.skipped, tr.ID)
			continue
		}
		r.allow = append(r.allow, targeted[tr.ID]...)
		idx := int32(len(rs.rules))
		rs.rules = append(rs.rules, r)
		for _, kw := range r.anchors {
			id, ok := patternID[kw]
			if !ok {
				id = len(patterns)
				patternID[kw] = id
				patterns = append(patterns, kw)
				rs.triggers = append(rs.triggers, nil)
			}
			rs.triggers[id] = append(rs.triggers[id], idx)
		}
		rs.maxBack = max(rs.maxBack, r.back)
	}
	if rs.ac, err = newAutomaton(patterns, true); err != nil {
		return nil, err
	}
	return rs, nil
}

// compileGlobalAllowlists sets the allowlists that apply to every rule and
// returns those that target named rules.
func (rs *ruleSet) compileGlobalAllowlists(cfg tomlConfig) (map[string][]*allowlist, error) {
	globals := cfg.Allowlists
	if cfg.Allowlist != nil {
		globals = append(globals, *cfg.Allowlist)
	}
	targeted := map[string][]*allowlist{}
	for _, g := range globals {
		al, err := compileAllowlist(g)
		if err != nil {
			return nil, fmt.Errorf("gitleaks config: global allowlist: %w", err)
		}
		if al == nil {
			continue
		}
		if len(g.TargetRules) == 0 {
			rs.global = append(rs.global, al)
		}
		for _, id := range g.TargetRules {
			targeted[id] = append(targeted[id], al)
		}
	}
	return targeted, nil
}

// ruleMode is how a rule is evaluated at a hit.
type ruleMode uint8

const (
	// modeAnchored: every match starts with one of the rule's anchors, so
	// the regex runs once, anchored at the hit.
	modeAnchored ruleMode = iota
	// modeWindow: the regex searches a bounded window around the hit.
	modeWindow
)

type secretRule struct {
	id          string
	mode        ruleMode
	re          *regexp.Regexp // as configured (window mode)
	anchored    *regexp.Regexp // \A(?s:.)(?:stripped): one context byte first
	anchoredBOT *regexp.Regexp // \A(?:stripped): at the start of the text
	anchors     []string       // ASCII-lowercased literals that trigger it
	pre         prefilter
	back, fwd   int // window: [hit start - back, hit start + fwd)
	secretGroup int
	entropy     float64
	allow       []*allowlist
	truncated   bool // matches can be longer than the window (capped)
}

// ctxBytes is the context kept on each side of a match window so that \b,
// ^ and $ see the real neighbouring byte (Go's \b is ASCII-only).
const ctxBytes = 1

// compileRule returns nil for rules that only apply to file paths, which a
// tool result does not have (gitleaks skips them for a bare string too).
func compileRule(tr tomlRule, maxSecretLen int) (*secretRule, error) {
	if tr.Regex == "" || tr.Path != "" || tr.SkipReport || len(tr.Required) > 0 {
		return nil, nil
	}
	re, err := regexp.Compile(tr.Regex)
	if err != nil {
		return nil, err
	}
	if tr.SecretGroup > re.NumSubexp() {
		return nil, fmt.Errorf("secretGroup %d > %d groups", tr.SecretGroup, re.NumSubexp())
	}
	r := &secretRule{id: tr.ID, re: re, secretGroup: tr.SecretGroup, entropy: tr.Entropy}
	if err := r.compileAllowlists(tr); err != nil {
		return nil, err
	}
	tree, err := syntax.Parse(tr.Regex, syntax.Perl)
	if err != nil {
		return nil, err
	}
	keywords := make([]string, len(tr.Keywords))
	for i, k := range tr.Keywords {
		keywords[i] = foldASCII(k)
	}
	stripped := stripLazyPrefix(tree)
	if anchors, ok := prefixAnchors(stripped, keywords); ok {
		return r, r.compileAnchored(stripped, anchors, maxSecretLen)
	}
	if len(keywords) == 0 {
		return nil, fmt.Errorf("no keywords and no literal prefix: the rule cannot be bounded")
	}
	r.mode, r.anchors = modeWindow, keywords
	n := maxMatchLen(tree)
	if n == unbounded || n > maxSecretLen {
		n, r.truncated = maxSecretLen, true
	}
	// The keyword may sit anywhere in a match, or (for a few rules) only
	// near it; the window reaches one longest match either side.
	r.back, r.fwd = n+ctxBytes, n+ctxBytes+maxLen(keywords)
	return r, nil
}

func (r *secretRule) compileAnchored(stripped *syntax.Regexp, anchors []string, maxSecretLen int) error {
	inner := stripped.String()
	var err error
	if r.anchored, err = regexp.Compile(`\A(?s:.)(?:` + inner + `)`); err != nil {
		return err
	}
	if r.anchoredBOT, err = regexp.Compile(`\A(?:` + inner + `)`); err != nil {
		return err
	}
	if r.anchored.NumSubexp() != r.re.NumSubexp() {
		return fmt.Errorf("anchored form changed the capture groups")
	}
	r.mode, r.anchors = modeAnchored, anchors
	r.pre = newPrefilter(stripped)
	n := maxMatchLen(stripped)
	if n == unbounded || n > maxSecretLen {
		n, r.truncated = maxSecretLen, true
	}
	r.back, r.fwd = ctxBytes, n+ctxBytes
	return nil
}

func (r *secretRule) compileAllowlists(tr tomlRule) error {
	lists := tr.Allowlists
	if tr.Allowlist != nil {
		lists = append(lists, *tr.Allowlist)
	}
	for _, l := range lists {
		al, err := compileAllowlist(l)
		if err != nil {
			return err
		}
		if al != nil {
			r.allow = append(r.allow, al)
		}
	}
	return nil
}

func maxLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len(s))
	}
	return n
}
