package redact

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"

	gitleaksconfig "github.com/zricethezav/gitleaks/v8/config"
)

// extraRules are ActionGate's additions to gitleaks' rules, in the same
// format. gitleaks has no rule for a password in a URL's userinfo (database
// URLs) or for a bare bearer token, both common in tool output.
const extraRules = `
[[rules]]
id = "actiongate-url-password"
description = "Password in the userinfo of a URL (scheme://user:password@host)"
regex = '''://[^\s:@/?#'"<>]{1,128}:([^\s@/?#'"<>]{1,256})@[A-Za-z0-9\[]'''
keywords = ["://"]
[[rules.allowlists]]
regexes = ['''^\$\{?\w+\}?$''', '''^\*+$''', '''^<[^>]*>$''']

[[rules]]
id = "actiongate-bearer-token"
description = "Bearer token in an Authorization value"
regex = '''(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]{16,1000}=*)(?:[^A-Za-z0-9._~+/=-]|$)'''
entropy = 3.5
keywords = ["bearer"]
`

// Policy is a compiled redaction policy: immutable, safe for concurrent use,
// built once per policy revision (NewPolicy) and, per call, extended with
// the credentials the gateway brokered (WithCredentials).
type Policy struct {
	cfg     Config
	rules   *ruleSet
	actions []Action // by Kind.index()
	ruleAct []Action // by secret rule index
	phone   *phoneMatcher
	natIDs  []*nationalID
	creds   *credentials
	targets *tnode
	// discBack bounds how far before the byte that reveals an anchor its
	// window can start; the stream never emits text closer than this to
	// its end.
	discBack int
}

// NewPolicy validates cfg and compiles it. The gitleaks rules are compiled
// once per process (~100 ms) and shared.
func NewPolicy(cfg Config) (*Policy, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("redaction policy: %w", err)
	}
	rules, err := rulesFor(cfg.MaxSecretLen)
	if err != nil {
		return nil, fmt.Errorf("redaction policy: %w", err)
	}
	p := &Policy{cfg: cfg, rules: rules}
	p.actions = make([]Action, len(Kinds))
	for i, k := range Kinds {
		a, ok := cfg.Actions[k]
		if !ok {
			a = DefaultActions[k]
		}
		p.actions[i] = a
	}
	if err := p.compileRuleActions(); err != nil {
		return nil, err
	}
	if p.phone, err = newPhoneMatcher(cfg.PhoneRegions); err != nil {
		return nil, fmt.Errorf("redaction policy: %w", err)
	}
	for _, n := range cfg.NationalIDs {
		id, err := compileNationalID(n)
		if err != nil {
			return nil, fmt.Errorf("redaction policy: national id %q: %w", n.Name, err)
		}
		p.natIDs = append(p.natIDs, id)
	}
	if p.targets, err = parseTargets(cfg.Targets); err != nil {
		return nil, fmt.Errorf("redaction policy: %w", err)
	}
	p.discBack = p.computeDiscBack()
	return p, nil
}

var (
	rulesMu    sync.Mutex
	rulesCache = map[int]*ruleSet{}
)

// rulesFor returns the compiled rules for a secret length cap, compiling
// each cap once per process.
func rulesFor(maxSecretLen int) (*ruleSet, error) {
	rulesMu.Lock()
	defer rulesMu.Unlock()
	if rs, ok := rulesCache[maxSecretLen]; ok {
		return rs, nil
	}
	rs, err := compileRules(gitleaksconfig.DefaultConfig+"\n"+extraRules, maxSecretLen)
	if err != nil {
		return nil, err
	}
	rulesCache[maxSecretLen] = rs
	return rs, nil
}

func (p *Policy) compileRuleActions() error {
	byID := make(map[string]int, len(p.rules.rules))
	for i, r := range p.rules.rules {
		byID[r.id] = i
	}
	p.ruleAct = make([]Action, len(p.rules.rules))
	for i := range p.ruleAct {
		p.ruleAct[i] = p.action(KindSecret)
	}
	for id, a := range p.cfg.RuleActions {
		i, ok := byID[id]
		if !ok {
			return fmt.Errorf("redaction policy: rule action for unknown rule %q", id)
		}
		p.ruleAct[i] = a
	}
	return nil
}

func (p *Policy) action(k Kind) Action { return p.actions[k.index()] }

// computeDiscBack is the largest distance from a window's start to the
// position just past the byte that reveals its anchor.
func (p *Policy) computeDiscBack() int {
	d := max(p.rules.maxBack+p.rules.ac.maxLen, emailBack+1, numberBack+1)
	if p.creds != nil {
		d = max(d, p.creds.ac.maxLen)
	}
	return d + 1
}

// minCredentialLen refuses credentials short enough to collide with
// ordinary text.
const minCredentialLen = 8

// credentials are the exact strings to redact, with their encoded forms.
type credentials struct {
	ac    *automaton
	rules []string // pattern id -> rule name
}

// CredentialForms are the encodings of a credential WithCredentials
// redacts, each with the rule name its findings carry: as is, URL-encoded,
// and unpadded base64 and base64url (a padded form starts with them).
func CredentialForms(c string) [][2]string {
	return [][2]string{
		{c, "brokered"},
		{url.QueryEscape(c), "brokered-urlencoded"},
		{base64.RawStdEncoding.EncodeToString([]byte(c)), "brokered-base64"},
		{base64.RawURLEncoding.EncodeToString([]byte(c)), "brokered-base64url"},
	}
}

// WithCredentials returns a policy that also redacts the given credentials
// (tokens the gateway brokered for this call) wherever they appear, in any
// of their CredentialForms. Credentials are never reported back: a finding
// names only the encoding. It compiles an automaton over the forms, which
// for a JWT-sized token costs about half a millisecond: callers on a hot
// path first check that a form occurs at all.
func (p *Policy) WithCredentials(creds ...string) (*Policy, error) {
	var patterns, rules []string
	for i, c := range creds {
		if len(c) < minCredentialLen {
			return nil, fmt.Errorf("redaction policy: credential %d is shorter than %d bytes", i, minCredentialLen)
		}
		for _, f := range CredentialForms(c) {
			if !slices.Contains(patterns, f[0]) {
				patterns, rules = append(patterns, f[0]), append(rules, f[1])
			}
		}
	}
	q := *p
	if len(patterns) == 0 {
		q.creds = nil
		q.discBack = q.computeDiscBack()
		return &q, nil
	}
	ac, err := newAutomaton(patterns, false)
	if err != nil {
		return nil, errors.New("redaction policy: credentials: " + err.Error())
	}
	q.creds = &credentials{ac: ac, rules: rules}
	q.discBack = q.computeDiscBack()
	return &q, nil
}
