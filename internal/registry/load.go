package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxDepth bounds YAML nesting. Real schemas nest a handful of levels; the
// bound keeps field paths and recursion small on hostile input.
const maxDepth = 64

// maxFileSize bounds one registry file. Real files are a few KiB; the bound
// keeps a mistaken or hostile file from exhausting memory on every poll.
const maxFileSize = 4 << 20

// sourceFile is one registry file as read from disk.
type sourceFile struct {
	rel  string // relative to the registry directory, "/"-separated
	data []byte
}

// fileEntry is one registry file found by listFiles, not yet read.
type fileEntry struct {
	rel  string
	path string
	info fs.FileInfo // of the target when the entry is a symlink
}

// document is one YAML document whose body is a mapping.
type document struct {
	file string
	root *yaml.Node
}

// Load reads and validates the registry in dir. It either returns a complete,
// indexed registry or an error; a *LoadError lists every problem found.
func Load(dir string) (*Registry, error) {
	headBefore := gitHead(dir)
	files, err := readFiles(dir)
	if err != nil {
		return nil, err
	}
	reg, err := build(dir, files)
	if err != nil {
		return nil, err
	}
	reg.Version.Commit = cleanCommit(dir, headBefore)
	return reg, nil
}

// build is the pure part of Load: files in, validated registry out. It does
// no I/O, so the fuzz target and the watcher's tests can drive it directly.
func build(dir string, files []sourceFile) (*Registry, error) {
	var ps problems
	var docs []document
	for _, f := range files {
		docs = append(docs, parseFile(f, &ps)...)
	}
	if len(docs) == 0 && len(ps.list) == 0 {
		ps.add("", 0, "", "no registry documents found (want *.yaml or *.yml files with apiVersion: %s)", APIVersion)
	}
	reg := decodeAll(docs, &ps)
	if len(ps.list) > 0 {
		return nil, &LoadError{Dir: dir, Problems: ps.sorted()}
	}
	canonicalize(reg)
	reg.Version.ContentHash = contentHash(files)
	reg.index()
	return reg, nil
}

// listFiles finds the registry files under dir: *.yaml and *.yml at any
// depth, skipping hidden files and directories (editor swap files, .git,
// and the "..data" directories of Kubernetes ConfigMap mounts), sorted by
// relative path. Symlinked files are followed, as ConfigMap mounts need;
// symlinked directories are not, so a link cannot loop.
func listFiles(dir string) ([]fileEntry, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", dir, err)
	}
	var out []fileEntry
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable directory might hold documents: refuse, never guess.
			return err
		}
		if path == root {
			if !d.IsDir() {
				return fmt.Errorf("%s is not a directory", path)
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isYAMLName(d.Name()) {
			return nil
		}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out = append(out, fileEntry{rel: filepath.ToSlash(rel), path: path, info: info})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", dir, err)
	}
	slices.SortFunc(out, func(a, b fileEntry) int { return strings.Compare(a.rel, b.rel) })
	return out, nil
}

func isYAMLName(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// readFiles lists and reads every registry file under dir.
func readFiles(dir string) ([]sourceFile, error) {
	entries, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	files := make([]sourceFile, 0, len(entries))
	for _, e := range entries {
		data, err := readLimited(e.path)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %s: %w", dir, e.rel, err)
		}
		files = append(files, sourceFile{rel: e.rel, data: data})
	}
	return files, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// parseFile splits a file into its YAML documents. Empty documents (a lone
// "---", comments only) are skipped; a syntax error ends the file, since
// nothing after it can be located reliably.
func parseFile(f sourceFile, ps *problems) []document {
	var docs []document
	dec := yaml.NewDecoder(bytes.NewReader(f.data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			line, msg := yamlErrorLine(err)
			ps.add(f.rel, line, "", "invalid YAML: %s", msg)
			return docs
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
			continue
		}
		body := n.Content[0]
		if body.Kind == yaml.ScalarNode && body.ShortTag() == "!!null" {
			continue
		}
		if !checkNodes(ps, f.rel, "", body, 0) {
			continue
		}
		if body.Kind != yaml.MappingNode {
			ps.add(f.rel, body.Line, "", "a document must be a mapping with apiVersion, kind and spec, not %s", describe(body))
			continue
		}
		docs = append(docs, document{file: f.rel, root: body})
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlErrorLine pulls the line number out of a yaml.v3 syntax error.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			return line, m[2]
		}
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// checkNodes refuses the YAML features that let one file be read two ways
// or expand without bound: anchors and aliases, merge keys, custom tags,
// duplicate keys, non-string keys and excessive nesting. It reports every
// such node and returns false if there was any, so the document is not
// decoded further.
func checkNodes(ps *problems, file, path string, n *yaml.Node, depth int) bool {
	if depth > maxDepth {
		ps.add(file, n.Line, path, "nested more than %d levels deep", maxDepth)
		return false
	}
	ok := true
	bad := func(line int, field, format string, args ...any) {
		ps.add(file, line, field, format, args...)
		ok = false
	}
	if n.Kind == yaml.AliasNode {
		bad(n.Line, path, "YAML aliases are not supported; write the value out")
		return false
	}
	if n.Anchor != "" {
		bad(n.Line, path, "YAML anchors are not supported; write the value out")
	}
	if !knownTag(n) {
		bad(n.Line, path, "unsupported YAML tag %q", n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		ok = checkMapping(ps, file, path, n, depth) && ok
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ok = checkNodes(ps, file, elem(path, i), c, depth+1) && ok
		}
	}
	return ok
}

func checkMapping(ps *problems, file, path string, n *yaml.Node, depth int) bool {
	ok := true
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			ps.add(file, k.Line, path, "YAML merge keys (<<) are not supported")
			ok = false
			continue
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			ps.add(file, k.Line, path, "mapping keys must be strings, not %s", describe(k))
			ok = false
			continue
		case firstLine[k.Value] != 0:
			ps.add(file, k.Line, join(path, k.Value), "duplicate key (first at line %d)", firstLine[k.Value])
			ok = false
			continue
		}
		firstLine[k.Value] = k.Line
		ok = checkNodes(ps, file, join(path, k.Value), v, depth+1) && ok
	}
	return ok
}

// knownTag accepts only the YAML core schema tags.
func knownTag(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode:
		return n.ShortTag() == "!!map"
	case yaml.SequenceNode:
		return n.ShortTag() == "!!seq"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!merge":
			return true
		}
	}
	return false
}
