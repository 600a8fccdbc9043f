package registry

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one reason a registry directory was refused, located precisely
// enough that its owner can fix it without guessing.
type Problem struct {
	File    string // path relative to the registry directory, "/"-separated; empty for the directory itself
	Line    int    // 1-based; 0 when the problem has no single line
	Field   string // e.g. "spec.tools[1].risk"; empty for file-level problems
	Message string
}

// String renders "file:line: field: message", dropping the parts it lacks.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError lists every problem found in a registry directory. Load reports
// all of them at once so a broken change is fixed in one round trip.
type LoadError struct {
	Dir      string
	Problems []Problem
}

// maxListed bounds how many problems Error spells out, so a hostile or
// badly broken directory cannot flood the log; Problems keeps them all.
const maxListed = 100

func (e *LoadError) Error() string {
	if len(e.Problems) == 1 {
		return "registry " + e.Dir + ": " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "registry %s: %d problems:", e.Dir, len(e.Problems))
	for i, p := range e.Problems {
		if i == maxListed {
			fmt.Fprintf(&b, "\n\t... and %d more", len(e.Problems)-maxListed)
			break
		}
		b.WriteString("\n\t" + p.String())
	}
	return b.String()
}

// problems accumulates findings across every file of one load.
type problems struct{ list []Problem }

func (ps *problems) add(file string, line int, field, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// sorted orders problems by file then line so the output reads like the
// files themselves, whatever order the checks ran in.
func (ps *problems) sorted() []Problem {
	out := slices.Clone(ps.list)
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return out
}
