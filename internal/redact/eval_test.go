package redact

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEvalPresidio measures precision and recall per kind on the labelled
// Presidio synthetic corpus. It only runs when asked:
//
//	ACTIONGATE_EVAL=1 go test -run TestEvalPresidio -v ./internal/redact/
//
// (corpus at $ACTIONGATE_CORPORA/presidio, default /work/shared/corpora).
// The figures and the command live in docs/redaction.md.
func TestEvalPresidio(t *testing.T) {
	if os.Getenv("ACTIONGATE_EVAL") == "" {
		t.Skip("set ACTIONGATE_EVAL=1 to run the corpus evaluation")
	}
	dir := os.Getenv("ACTIONGATE_CORPORA")
	if dir == "" {
		dir = "/work/shared/corpora"
	}
	raw, err := os.ReadFile(filepath.Join(dir, "presidio", "synth_dataset_v2.even.json"))
	if err != nil {
		t.Fatal(err)
	}
	var records []struct {
		Text  string `json:"full_text"`
		Spans []struct {
			Type  string `json:"entity_type"`
			Start int    `json:"start_position"`
			End   int    `json:"end_position"`
		} `json:"spans"`
	}
	if err := json.Unmarshal(raw, &records); err != nil {
		t.Fatal(err)
	}
	p := defaultPolicy(t)
	stats := map[Kind]*evalStats{}
	for _, k := range evalKinds {
		stats[k] = &evalStats{}
	}
	for _, rec := range records {
		gold := map[Kind][][2]int{}
		for _, s := range rec.Spans {
			if k, ok := presidioKind[s.Type]; ok {
				// Presidio positions count characters; ours count bytes.
				gold[k] = append(gold[k], [2]int{byteOffset(rec.Text, s.Start), byteOffset(rec.Text, s.End)})
			}
		}
		pred := map[Kind][][2]int{}
		for _, f := range p.RedactText([]byte(rec.Text)).Findings {
			pred[f.Kind] = append(pred[f.Kind], [2]int{f.Start, f.End})
		}
		for _, k := range evalKinds {
			stats[k].add(gold[k], pred[k])
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "corpus presidio/synth_dataset_v2.even.json, %d records; a prediction counts if it overlaps a labelled span of the same type\n", len(records))
	fmt.Fprintf(&sb, "| Kind (Presidio type) | Labelled | Predicted | Precision (95%% CI) | Recall (95%% CI) | Exact-span recall |\n|---|---|---|---|---|---|\n")
	for _, k := range evalKinds {
		s := stats[k]
		fmt.Fprintf(&sb, "| %s (%s) | %d | %d | %s | %s | %s |\n", k, presidioName(k), s.gold, s.pred,
			ratio(s.predHit, s.pred), ratio(s.goldHit, s.gold), ratio(s.goldExact, s.gold))
	}
	t.Log("\n" + sb.String())
	if out := os.Getenv("ACTIONGATE_EVAL_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var evalKinds = []Kind{KindEmail, KindPhone, KindCard, KindIBAN, KindNationalID}

var presidioKind = map[string]Kind{
	"EMAIL_ADDRESS": KindEmail, "PHONE_NUMBER": KindPhone, "CREDIT_CARD": KindCard,
	"IBAN_CODE": KindIBAN, "US_SSN": KindNationalID,
}

func presidioName(k Kind) string {
	for name, kk := range presidioKind {
		if kk == k {
			return name
		}
	}
	return ""
}

type evalStats struct {
	gold, goldHit, goldExact int
	pred, predHit            int
}

func (s *evalStats) add(gold, pred [][2]int) {
	overlaps := func(a, b [2]int) bool { return a[0] < b[1] && b[0] < a[1] }
	s.gold += len(gold)
	s.pred += len(pred)
	for _, g := range gold {
		if slices.ContainsFunc(pred, func(p [2]int) bool { return overlaps(g, p) }) {
			s.goldHit++
		}
		if slices.Contains(pred, g) {
			s.goldExact++
		}
	}
	for _, p := range pred {
		if slices.ContainsFunc(gold, func(g [2]int) bool { return overlaps(g, p) }) {
			s.predHit++
		}
	}
}

func byteOffset(s string, chars int) int {
	n := 0
	for i := range s {
		if n == chars {
			return i
		}
		n++
	}
	return len(s)
}

// ratio formats k/n with a Wilson 95% interval.
func ratio(k, n int) string {
	if n == 0 {
		return "n/a"
	}
	lo, hi := wilson(k, n)
	return fmt.Sprintf("%.3f (%.3f–%.3f), %d/%d", float64(k)/float64(n), lo, hi, k, n)
}

func wilson(k, n int) (float64, float64) {
	const z = 1.959964
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / den
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return max(0, c-h), min(1, c+h)
}
