package registry

import (
	"bytes"
	"fmt"
	"github.com/actiongate/actiongate/internal/atomicfile"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// PinChange is one tool whose pin PinFiles added or replaced.
type PinChange struct {
	File   string // relative to the registry directory
	Line   int    // of the pin after the change
	Server string
	Tool   string
	Old    string // "" when the tool had no pin
	New    string
}

// PinFiles computes the pin of every tool in the registry at dir from the
// definition written next to it and, unless dryRun, writes the pins into
// the files. Only pin lines change: comments, order and formatting stay
// byte for byte, so the diff an owner reviews is the definition change
// plus one line per tool. Tools in flow style ({...}) are refused: there
// is no line to put a pin on. The registry must be valid apart from stale
// pins; other problems are returned as a *LoadError and nothing is written.
func PinFiles(dir string, dryRun bool) ([]PinChange, error) {
	files, err := readFiles(dir)
	if err != nil {
		return nil, err
	}
	var changes []PinChange
	edited := map[string][]byte{}
	ps := &problems{}
	for _, f := range files {
		out, ch := pinFile(f, ps)
		changes = append(changes, ch...)
		if len(ch) > 0 {
			edited[f.rel] = out
		}
	}
	if len(ps.list) > 0 {
		return nil, &LoadError{Dir: dir, Problems: ps.sorted()}
	}
	if dryRun {
		return changes, nil
	}
	for rel, data := range edited {
		if err := writeAtomic(filepath.Join(dir, filepath.FromSlash(rel)), data); err != nil {
			return changes, err
		}
	}
	// The result must load: a pin written is a pin that matches.
	if _, err := Load(dir); err != nil {
		return changes, fmt.Errorf("registry does not load after pinning: %w", err)
	}
	return changes, nil
}

// pinFile returns f's content with every tool's pin line set, and what
// changed. Problems other than stale pins go to ps.
func pinFile(f sourceFile, ps *problems) ([]byte, []PinChange) {
	docs := parseFile(f, ps)
	lines := strings.SplitAfter(string(f.data), "\n")
	type edit struct {
		line    int // 1-based line to replace, or after which to insert
		replace bool
		text    string
	}
	var edits []edit
	var changes []PinChange
	for _, d := range docs {
		scratch := &problems{}
		sp, ok := envelope(scratch, d)
		if !ok || sp.kind != KindMCPServer {
			continue
		}
		o, ok := newObject(scratch, sp.file, "spec", sp.node, "id", "upstream", "owner", "purpose", "classification", "tools", "credential")
		if !ok {
			continue
		}
		server := o.str("id", false)
		for i, n := range o.seq("tools", false) {
			path := elem("spec.tools", i)
			tp := &problems{}
			t, ok := decodeTool(tp, f.rel, path, n)
			for _, p := range tp.list {
				if !strings.HasSuffix(p.Field, ".pin") {
					ps.list = append(ps.list, p)
					ok = false
				}
			}
			if !ok || t.defHash == "" {
				continue
			}
			if n.Style&yaml.FlowStyle != 0 {
				ps.add(f.rel, n.Line, path, "tool %q is written in flow style; write it as a block mapping to pin it", t.Name)
				continue
			}
			if t.Pin == t.defHash {
				continue
			}
			var nameKey, pinVal *yaml.Node
			for j := 0; j+1 < len(n.Content); j += 2 {
				switch n.Content[j].Value {
				case "name":
					nameKey = n.Content[j]
				case "pin":
					pinVal = n.Content[j+1]
				}
			}
			if nameKey == nil {
				continue
			}
			indent := strings.Repeat(" ", nameKey.Column-1)
			c := PinChange{File: f.rel, Server: server, Tool: t.Name, Old: t.Pin, New: t.defHash}
			if pinVal != nil {
				if pinVal.Line-1 >= len(lines) || !strings.Contains(lines[pinVal.Line-1], "pin:") {
					ps.add(f.rel, pinVal.Line, path+".pin", "the pin must be on the same line as its key")
					continue
				}
				line := lines[pinVal.Line-1]
				k := strings.Index(line, "pin:")
				edits = append(edits, edit{line: pinVal.Line, replace: true, text: line[:k] + "pin: " + t.defHash + "\n"})
				c.Line = pinVal.Line
			} else {
				edits = append(edits, edit{line: nameKey.Line, text: indent + "pin: " + t.defHash + "\n"})
				c.Line = nameKey.Line + 1
			}
			changes = append(changes, c)
		}
	}
	if len(edits) == 0 {
		return f.data, nil
	}
	var b bytes.Buffer
	for i, l := range lines {
		ln := i + 1
		replaced := false
		for _, e := range edits {
			if e.line == ln && e.replace {
				b.WriteString(e.text)
				replaced = true
			}
		}
		if !replaced {
			b.WriteString(l)
			if !strings.HasSuffix(l, "\n") && l != "" {
				// An insertion after a last line without a newline.
				for _, e := range edits {
					if e.line == ln && !e.replace {
						b.WriteString("\n")
						break
					}
				}
			}
		}
		for _, e := range edits {
			if e.line == ln && !e.replace {
				b.WriteString(e.text)
			}
		}
	}
	// Each insertion above a change moves it down one line.
	for i := range changes {
		orig := changes[i].Line
		if changes[i].Old == "" {
			orig-- // the name line it follows
		}
		for _, e := range edits {
			if !e.replace && e.line < orig {
				changes[i].Line++
			}
		}
	}
	return b.Bytes(), changes
}

// writeAtomic replaces path with data, keeping its permissions.
func writeAtomic(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, info.Mode().Perm(), atomicfile.Options{})
}
