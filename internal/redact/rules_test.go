package redact

import (
	"fmt"
	"math/rand/v2"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect"
)

func TestCompileRules_DefaultConfig(t *testing.T) {
	t.Parallel()
	p := defaultPolicy(t)
	rs := p.rules
	if len(rs.rules) < 215 {
		t.Fatalf("compiled %d rules, want the ~217 text rules of gitleaks' default config plus ours", len(rs.rules))
	}
	wantSkipped := []string{"freemius-secret-key", "hashicorp-tf-password", "kubernetes-secret-yaml", "nuget-config-password", "pkcs12-file"}
	if !slices.Equal(rs.skipped, wantSkipped) {
		t.Fatalf("skipped %v, want the path-only rules %v", rs.skipped, wantSkipped)
	}
	window := 0
	ids := map[string]bool{}
	for _, r := range rs.rules {
		ids[r.id] = true
		if len(r.anchors) == 0 {
			t.Errorf("rule %s has no anchor", r.id)
		}
		if r.mode == modeWindow {
			window++
		} else if len(r.pre.steps) == 0 && len(r.pre.alts) == 0 {
			t.Errorf("anchored rule %s has no prefilter", r.id)
		}
	}
	if window > 8 {
		t.Errorf("%d rules need window search, want most anchored", window)
	}
	for _, id := range []string{"aws-access-token", "github-pat", "private-key", "generic-api-key", "actiongate-url-password", "actiongate-bearer-token"} {
		if !ids[id] {
			t.Errorf("rule %s missing", id)
		}
	}
}

func TestCompileRules_RefusesUnknownKeys(t *testing.T) {
	t.Parallel()
	_, err := compileRules("[[rules]]\nid = \"x\"\nregex = 'abc'\nkeywords = ['abc']\nfuture = 1\n", 8192)
	if err == nil || !strings.Contains(err.Error(), "future") {
		t.Fatalf("err = %v, want unsupported key named", err)
	}
}

func TestStripLazyPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`(?i)[\w.-]{0,50}?(?:key|token)=([a-z]{8})`, `(?i)(?:key|token)=([a-z]{8})`},
		{`[\w.-]{0,50}?(?i:[\w.-]{0,50}?(?:okta))x`, `(?i:okta)x`},
		{`[a-z]{0,5}?xa|[0-9]*?yb`, `xa|yb`},         // each branch of a top-level alternation
		{`a[\w]{0,5}?b`, `a[\w]{0,5}?b`},             // not leading: kept
		{`[\w]{0,5}b`, `[\w]{0,5}b`},                 // greedy: kept
		{`(?:([a-z]{0,5}?)x)`, `(?:([a-z]{0,5}?)x)`}, // holds a capture: kept
	} {
		tree, err := syntax.Parse(tc.in, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		want, err := syntax.Parse(tc.want, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := stripLazyPrefix(tree).String(); got != want.String() {
			t.Errorf("strip(%s) = %s, want %s", tc.in, got, want)
		}
	}
}

// genMatch writes a random string of re's language (ASCII where it can).
func genMatch(re *syntax.Regexp, r *rand.Rand, sb *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && r.IntN(2) == 0 {
				c = []rune(strings.ToUpper(string(c)))[0]
			}
			sb.WriteRune(c)
		}
	case syntax.OpCharClass:
		var opts []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for c := re.Rune[i]; c <= re.Rune[i+1] && c < 128; c++ {
				if c >= 0x20 || c == '\n' || c == '\t' {
					opts = append(opts, c)
				}
			}
		}
		if len(opts) == 0 {
			sb.WriteRune(re.Rune[0])
			return
		}
		sb.WriteRune(opts[r.IntN(len(opts))])
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		sb.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[r.IntN(36)])
	case syntax.OpCapture:
		genMatch(re.Sub[0], r, sb)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			genMatch(s, r, sb)
		}
	case syntax.OpAlternate:
		genMatch(re.Sub[r.IntN(len(re.Sub))], r, sb)
	case syntax.OpQuest, syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		lo, hi := repeatBounds(re)
		if hi == unbounded || hi > lo+12 {
			hi = lo + 12
		}
		for n := lo + r.IntN(hi-lo+1); n > 0; n-- {
			genMatch(re.Sub[0], r, sb)
		}
	}
}

// TestGitleaksConformance generates matches of every gitleaks rule from the
// rule's own regex, places them in a few contexts, and checks that every
// finding gitleaks' detector reports, our matcher reports too: same rule,
// same secret.
func TestGitleaksConformance(t *testing.T) {
	t.Parallel()
	d, err := detect.NewDetectorDefaultConfig() // viper's globals: tests only
	if err != nil {
		t.Fatal(err)
	}
	p := defaultPolicy(t)
	rnd := rand.New(rand.NewPCG(7, 11))
	samples := 6
	if testing.Short() {
		samples = 2
	}
	total := 0
	for _, id := range d.Config.OrderedRules {
		rule := d.Config.Rules[id]
		if rule.Regex == nil || rule.Path != nil {
			continue
		}
		tree, err := syntax.Parse(rule.Regex.String(), syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < samples; k++ {
			var sb strings.Builder
			genMatch(tree, rnd, &sb)
			if !rule.Regex.MatchString(sb.String()) {
				continue
			}
			for _, ctx := range []string{"%s", "x = %s\n", "before text %s after", `{"k":"%s"}`} {
				text := fmt.Sprintf(ctx, sb.String())
				ours := p.RedactText([]byte(text))
				for _, f := range d.DetectString(text) {
					if f.RuleID != id {
						continue
					}
					total++
					if !slices.ContainsFunc(ours.Findings, func(o Finding) bool { return o.Rule == id && text[o.Start:o.End] == f.Secret }) {
						t.Errorf("rule %s: gitleaks found a secret we missed in %q (ours: %v)", id, text, ours.Findings)
					}
				}
			}
		}
	}
	if total < 100*samples {
		t.Fatalf("only %d gitleaks findings compared", total)
	}
	t.Logf("%d gitleaks findings, all found", total)
}

func TestAutomaton_ChunkedScanMatchesWhole(t *testing.T) {
	t.Parallel()
	a, err := newAutomaton([]string{"key", "ey", "keyword", "xoxb-", "y"}, true)
	if err != nil {
		t.Fatal(err)
	}
	text := []byte("A KEYWORD, a Key and xoXB-1; eyes")
	type hit struct{ id, end int }
	var whole []hit
	a.scan(0, text, func(id int32, end int) { whole = append(whole, hit{int(id), end}) })
	for cut := 0; cut <= len(text); cut++ {
		var split []hit
		st := a.scan(0, text[:cut], func(id int32, end int) { split = append(split, hit{int(id), end}) })
		a.scan(st, text[cut:], func(id int32, end int) { split = append(split, hit{int(id), cut + end}) })
		if !slices.Equal(split, whole) {
			t.Fatalf("cut %d: %v, want %v", cut, split, whole)
		}
	}
	if len(whole) != 10 {
		t.Fatalf("hits %v, want 10 (case-folded, overlapping)", whole)
	}
}

func TestPrefilter(t *testing.T) {
	t.Parallel()
	tree, _ := syntax.Parse(`(?i)(?:key|token)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|:)[\s'"]{0,5}([a-z0-9]{10,40})(?:['"\s;]|$)`, syntax.Perl)
	steps, complete := prefilterSteps(tree)
	pf := prefilter{steps: steps, complete: complete}
	if !complete {
		t.Fatal("generic-style pattern should be modelled completely")
	}
	for _, tc := range []struct {
		text  string
		final bool
		ok    bool
		reach int
	}{
		{"key = abcdefghij0123 rest", true, true, 21}, // value end + terminator
		{"key token secret password", true, false, -1},
		{"key = short ", true, false, -1},
		{"KEY_NAME: 'abcdefghijkl'", true, true, 24},
		{"key = abcdefghij", false, true, -1}, // the value may go on
		{"key = abcdefghij", true, true, 16},
		{"key = abcde\u212afghij0", true, true, -1}, // Kelvin K is in a (?i) class: maybe
		{"key = abcdé", true, false, -1},            // other non-ASCII ends the run
	} {
		ok, reach, _, _ := pf.admits([]byte(tc.text), tc.final)
		if ok != tc.ok || (ok && reach != tc.reach) {
			t.Errorf("%q final=%v: ok=%v reach=%d, want %v %d", tc.text, tc.final, ok, reach, tc.ok, tc.reach)
		}
	}
}
