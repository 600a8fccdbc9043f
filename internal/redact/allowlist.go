package redact

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// allowlist is a gitleaks allowlist reduced to what applies to text: regexes
// (on the secret, the match or the line) and stop words. Path and commit
// conditions can never hold for a tool result: an OR list keeps its other
// checks, an AND list that needs one of them never applies.
//
// gitleaks joins an allowlist's regexes into one alternation; through Go's
// NFA that costs up to ~760 ns per byte (the generic rule's list of ~30
// exemptions). Here every alternative is compiled on its own, and one that
// must start with a literal only runs when a keyword scan of the target
// finds that literal: the same answer for a few per cent of the work.
type allowlist struct {
	and       bool
	target    string // "", "match" or "line"
	branches  []allowBranch
	always    []int      // branches without a literal to wait for
	lits      *automaton // required literals, folded
	litOwner  [][]int    // literal id -> branches
	stopwords *automaton
}

type allowBranch struct {
	re       *regexp.Regexp
	byteCost int // budget units per byte it reads (regexByteCost)
}

func compileAllowlist(t tomlAllowlist) (*allowlist, error) {
	al := &allowlist{}
	switch strings.ToUpper(t.Condition) {
	case "", "OR", "||":
	case "AND", "&&":
		al.and = true
		if len(t.Paths) > 0 || len(t.Commits) > 0 {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("allowlist condition %q", t.Condition)
	}
	switch t.RegexTarget {
	case "", "secret":
	case "match", "line":
		al.target = t.RegexTarget
	default:
		return nil, fmt.Errorf("allowlist regexTarget %q", t.RegexTarget)
	}
	if err := al.compileRegexes(t.Regexes); err != nil {
		return nil, err
	}
	if len(t.StopWords) > 0 {
		words := make([]string, 0, len(t.StopWords))
		for _, w := range t.StopWords {
			if w != "" {
				words = append(words, strings.ToLower(w))
			}
		}
		ac, err := newAutomaton(dedupe(words), true)
		if err != nil {
			return nil, err
		}
		al.stopwords = ac
	}
	if len(al.branches) == 0 && al.stopwords == nil {
		return nil, nil // only paths or commits
	}
	return al, nil
}

func (al *allowlist) compileRegexes(srcs []string) error {
	var lits []string
	litID := map[string]int{}
	for _, src := range srcs {
		tree, err := syntax.Parse(src, syntax.Perl)
		if err != nil {
			return err
		}
		branches := []*syntax.Regexp{tree}
		if tree.Op == syntax.OpAlternate {
			branches = tree.Sub
		}
		for _, b := range branches {
			re, err := regexp.Compile(b.String())
			if err != nil {
				return err
			}
			idx := len(al.branches)
			al.branches = append(al.branches, allowBranch{re: re, byteCost: regexByteCost(b)})
			need, ok := requiredLiterals(b)
			if !ok {
				al.always = append(al.always, idx)
				continue
			}
			for _, l := range need {
				id, seen := litID[l]
				if !seen {
					id = len(lits)
					litID[l] = id
					lits = append(lits, l)
					al.litOwner = append(al.litOwner, nil)
				}
				al.litOwner[id] = append(al.litOwner[id], idx)
			}
		}
	}
	if len(lits) > 0 {
		ac, err := newAutomaton(lits, true)
		if err != nil {
			return err
		}
		al.lits = ac
	}
	return nil
}

// requiredLiterals are literals one of which every match of re contains
// (its possible prefixes, after a leading lazy run), if they are long
// enough to be worth waiting for. The keyword scan folds ASCII only, so a
// match spelled with K or ſ is not exempted: the error is on the side of
// redacting.
func requiredLiterals(re *syntax.Regexp) ([]string, bool) {
	l, ok := literalPrefixes(stripLazyPrefix(re))
	if !ok || len(l.strs) == 0 || !allASCII(l.strs) {
		return nil, false
	}
	for _, s := range l.strs {
		if len(s) < minAnchorLen {
			return nil, false
		}
	}
	return l.strs, true
}

// regexByteCost estimates what a regex costs per input byte. Go's regexp has
// no DFA: its NFA works per byte roughly in proportion to the program size
// (measured: 0.5-2 ns per instruction and byte).
func regexByteCost(re *syntax.Regexp) int {
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 1000
	}
	return max(2, 2*len(prog.Inst))
}

func (al *allowlist) pick(secret, match, line []byte) []byte {
	switch al.target {
	case "match":
		return match
	case "line":
		return line
	}
	return secret
}

// plan lists the branches worth running on target and what they may cost.
func (al *allowlist) plan(target []byte, buf []int) ([]int, int) {
	run := append(buf[:0], al.always...)
	cost := len(target)
	if al.lits != nil {
		al.lits.scan(0, target, func(id int32, _ int) {
			for _, b := range al.litOwner[id] {
				if !slices.Contains(run, b) {
					run = append(run, b)
				}
			}
		})
	}
	slices.Sort(run)
	for _, b := range run {
		cost += costRegexCall/4 + al.branches[b].byteCost*len(target)
	}
	return run, cost
}

// allows reports whether the allowlist exempts a finding, given the
// branches plan chose.
func (al *allowlist) allows(run []int, secret, match, line []byte) bool {
	target := al.pick(secret, match, line)
	regexHit := false
	for _, b := range run {
		if len(target) > 0 && al.branches[b].re.Match(target) {
			regexHit = true
			break
		}
	}
	stopHit := al.stopwords != nil && al.stopwords.contains(secret)
	if al.and {
		return (len(al.branches) == 0 || regexHit) && (al.stopwords == nil || stopHit)
	}
	return regexHit || stopHit
}
