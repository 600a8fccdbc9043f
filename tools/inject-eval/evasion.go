package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/actiongate/actiongate/internal/inject"
)

// transform rewrites an attack the way an attacker evading a keyword
// filter would. These are synthetic: they measure whether normalization
// undoes each evasion, not how common the evasion is.
type transform struct {
	name string
	fn   func(string) string
}

var transforms = []transform{
	{"plain", func(s string) string { return s }},
	{"zero-width", zeroWidth},
	{"homoglyph", homoglyph},
	{"fullwidth", fullwidth},
	{"combining-marks", combining},
	{"unicode-tags", tags},
	{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"percent-encoded", percent},
	{"html-entities", entities},
	{"html-comment", func(s string) string { return "<!-- " + s + " -->" }},
	{"display-none", func(s string) string { return `<span style="display:none">` + s + `</span>` }},
}

// zeroWidth puts U+200B after every second letter.
func zeroWidth(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		b.WriteRune(r)
		if unicode.IsLetter(r) {
			if n++; n%2 == 0 {
				b.WriteRune('\u200b')
			}
		}
	}
	return b.String()
}

// homoglyph swaps Latin letters for their Cyrillic look-alikes.
func homoglyph(s string) string {
	return strings.NewReplacer("a", "а", "e", "е", "o", "о", "p", "р", "c", "с", "y", "у", "x", "х", "i", "і").Replace(s)
}

// fullwidth maps printable ASCII to the fullwidth forms block.
func fullwidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f {
			return r - 0x21 + 0xFF01
		}
		return r
	}, s)
}

// combining puts a combining acute accent on every vowel.
func combining(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
		if strings.ContainsRune("aeiouAEIOU", r) {
			b.WriteRune('\u0301')
		}
	}
	return b.String()
}

// tags spells the text in invisible Unicode tag characters.
func tags(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(0xE0000 + r)
		}
	}
	return b.String()
}

func percent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func entities(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, "&#%d;", r)
	}
	return b.String()
}

// evasion runs every transform of every BIPIA text attack of the split,
// inserted at the end of every e-mail context of the split.
func evasion(w io.Writer, d *inject.Detector, dir string, sp split, thresholds []float64) error {
	base, err := loadSamples(dir, sp)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "### Synthetic evasions of BIPIA text attacks (end of e-mail contexts)\n\n")
	header(w, "transform", thresholds)
	for _, tr := range transforms {
		var outs []outcome
		for _, s := range base {
			if s.source != "bipia-email" || !s.malicious || s.position != "end" {
				continue
			}
			ctx := strings.TrimSuffix(s.text, "\n"+s.attackTxt)
			r := d.Detect(ctx + "\n" + tr.fn(s.attackTxt))
			outs = append(outs, outcome{sample: s, score: r.Score})
		}
		row(w, tr.name, outs, thresholds)
	}
	fmt.Fprintln(w)
	return nil
}
