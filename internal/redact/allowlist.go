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
// must start with a literal runs only where a keyword scan of the target
// finds that literal, anchored there: the same answer for a few per cent of
// the work.
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
	// For a branch every match of which starts with one of its literals:
	// the branch anchored there, after one byte of context (see
	// scanner.matchAnchored), and at the start of the target.
	anchored, anchoredBOT *regexp.Regexp
}

// allowRun is one regex run an allowlist check makes: a branch over the
// whole target (at < 0) or anchored at a literal's position.
type allowRun struct {
	branch, at int
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
			br, need, err := compileBranch(b)
			if err != nil {
				return err
			}
			idx := len(al.branches)
			al.branches = append(al.branches, br)
			if need == nil {
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

// compileBranch compiles one alternative, anchored too when every match of
// it starts with one of the literals it returns.
func compileBranch(b *syntax.Regexp) (allowBranch, []string, error) {
	re, err := regexp.Compile(b.String())
	if err != nil {
		return allowBranch{}, nil, err
	}
	br := allowBranch{re: re, byteCost: regexByteCost(b)}
	need, ok := requiredLiterals(b)
	if !ok {
		return br, nil, nil
	}
	inner := stripLazyPrefix(b).String()
	if br.anchored, err = regexp.Compile(`\A(?s:.)(?:` + inner + `)`); err != nil {
		return allowBranch{}, nil, err
	}
	if br.anchoredBOT, err = regexp.Compile(`\A(?:` + inner + `)`); err != nil {
		return allowBranch{}, nil, err
	}
	return br, need, nil
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
// no DFA: its NFA works per byte roughly in proportion to the program size;
// the worst measured on these allowlists is about half a nanosecond per
// instruction and byte.
func regexByteCost(re *syntax.Regexp) int {
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 1000
	}
	return max(2, len(prog.Inst)/2)
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

// plan lists the regex runs worth making on target and what they may cost.
func (al *allowlist) plan(target []byte, buf []allowRun) ([]allowRun, int) {
	runs := buf[:0]
	for _, b := range al.always {
		runs = append(runs, allowRun{branch: b, at: -1})
	}
	if al.lits != nil {
		al.lits.scan(0, target, func(id int32, end int) {
			at := end - al.lits.lens[id]
			for _, b := range al.litOwner[id] {
				if r := (allowRun{branch: b, at: at}); !slices.Contains(runs, r) {
					runs = append(runs, r)
				}
			}
		})
	}
	cost := len(target)
	for _, r := range runs {
		cost += costRegexCall/5 + al.branches[r.branch].byteCost*(len(target)-max(r.at, 0))
	}
	return runs, cost
}

// allows reports whether the allowlist exempts a finding, given the runs
// plan chose.
func (al *allowlist) allows(runs []allowRun, secret, match, line []byte) bool {
	target := al.pick(secret, match, line)
	regexHit := false
	for _, r := range runs {
		if len(target) > 0 && al.branches[r.branch].matchAt(target, r.at) {
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

// matchAt runs the branch over target, or anchored at the literal at at.
func (br *allowBranch) matchAt(target []byte, at int) bool {
	switch {
	case at < 0:
		return br.re.Match(target)
	case at == 0:
		return br.anchoredBOT.Match(target)
	case target[at-1] < 0x80:
		return br.anchored.Match(target[at-1:])
	}
	// A multi-byte rune before: for \b and ^ any such rune is a space.
	return br.anchored.Match(append([]byte{' '}, target[at:]...))
}
