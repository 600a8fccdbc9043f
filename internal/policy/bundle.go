// Package policy is ActionGate's policy-as-code: Rego bundles addressed by
// content hash (the revision every decision records), compiled once into an
// immutable Engine, evaluated in-process with OPA on a typed Input, and
// hot-reloaded by a Watcher that keeps serving the previous engine when a
// change does not compile. Replay asks for the engine of a recorded revision
// and must reach the same Result.
//
// The query is always data.actiongate.authz.decision; the input and result
// contracts are in docs/policy.md.
package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	defaultbundle "github.com/actiongate/actiongate/policy"
)

// MaxFileBytes bounds each bundle file: a policy directory is source code,
// and a runaway file must not exhaust the gateway's memory on reload.
const MaxFileBytes = 4 << 20

// sourceFile is one bundle file, path relative to the bundle root with
// forward slashes.
type sourceFile struct {
	path string
	data []byte
}

// Bundle is one loaded, not yet compiled policy version: its Rego modules,
// its data documents and its revision. It is immutable.
type Bundle struct {
	revision string
	modules  []sourceFile // *.rego except *_test.rego, sorted by path
	tests    []sourceFile // *_test.rego, sorted by path
	dataDocs []sourceFile // data.json files, sorted by path
	data     map[string]any
	// err is set only by EmbeddedDefault when the shipped bundle is broken;
	// Compile then refuses it (fail closed, without a panic).
	err error
}

// Revision is "sha256:<hex>" over the sorted paths and contents of the
// modules and data files (test files excluded), each length-prefixed: the
// exact content that decides, so two hosts with the same policy agree on it.
func (b *Bundle) Revision() string { return b.revision }

// Files lists the paths that make up the revision, in hash order.
func (b *Bundle) Files() []string {
	out := make([]string, 0, len(b.modules)+len(b.dataDocs))
	for _, f := range mergeSorted(b.modules, b.dataDocs) {
		out = append(out, f.path)
	}
	return out
}

// File is one file of a bundle: its path relative to the bundle root, with
// forward slashes, and its bytes.
type File struct {
	Path string
	Data []byte
}

// RevisionFiles returns the files the revision covers (modules and data
// files, tests excluded), in hash order: what replay must keep to load the
// same revision again. The bytes are the bundle's own; do not modify them.
func (b *Bundle) RevisionFiles() []File {
	files := mergeSorted(b.modules, b.dataDocs)
	out := make([]File, len(files))
	for i, f := range files {
		out[i] = File{Path: f.path, Data: f.data}
	}
	return out
}

// RevisionOf is the revision of a sorted set of files: the value
// Bundle.Revision reports for a bundle made of exactly them.
func RevisionOf(files []File) string {
	src := make([]sourceFile, len(files))
	for i, f := range files {
		src[i] = sourceFile{path: f.Path, data: f.Data}
	}
	return revision(src)
}

// LoadBundle reads the bundle in dir: every *.rego file (those ending in
// _test.rego are tests, kept apart) and every data.json at any depth, whose
// content is placed under data at its directory's path (OPA's bundle
// convention: actiongate/data.json becomes data.actiongate). Other files and
// anything hidden (".git", editor swap files, ConfigMap "..data" links) are
// ignored.
func LoadBundle(dir string) (*Bundle, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("policy bundle %s: %w", dir, err)
	}
	b, err := loadFS(os.DirFS(root))
	if err != nil {
		return nil, fmt.Errorf("policy bundle %s: %w", dir, err)
	}
	return b, nil
}

// EmbeddedDefault is the shipped default bundle (repository directory
// policy/). Its tests guarantee it loads; should it ever not, the returned
// Bundle fails to Compile rather than the process panicking.
func EmbeddedDefault() *Bundle {
	b, err := loadFS(defaultbundle.FS)
	if err != nil {
		return &Bundle{err: fmt.Errorf("embedded default policy bundle: %w", err)}
	}
	return b
}

func loadFS(fsys fs.FS) (*Bundle, error) {
	files, err := readBundleFiles(fsys)
	if err != nil {
		return nil, err
	}
	b := &Bundle{}
	for _, f := range files {
		switch {
		case path.Base(f.path) == "data.json":
			b.dataDocs = append(b.dataDocs, f)
		case strings.HasSuffix(f.path, "_test.rego"):
			b.tests = append(b.tests, f)
		default:
			b.modules = append(b.modules, f)
		}
	}
	if len(b.modules) == 0 {
		return nil, errors.New("no .rego modules (test files do not count)")
	}
	if b.data, err = mergeData(b.dataDocs); err != nil {
		return nil, err
	}
	b.revision = revision(mergeSorted(b.modules, b.dataDocs))
	return b, nil
}

// readBundleFiles returns the bundle's files sorted by path. Symlinked files
// are read through (ConfigMap mounts need it); a non-regular file with a
// bundle name is refused rather than skipped, since it might be policy.
func readBundleFiles(fsys fs.FS) ([]sourceFile, error) {
	var out []sourceFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isBundleName(d.Name()) {
			return nil
		}
		info, err := fs.Stat(fsys, p)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		if info.Size() > MaxFileBytes {
			return fmt.Errorf("%s: %d bytes; the limit is %d", p, info.Size(), MaxFileBytes)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if len(data) > MaxFileBytes {
			return fmt.Errorf("%s: grew past %d bytes while being read", p, MaxFileBytes)
		}
		out = append(out, sourceFile{path: p, data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b sourceFile) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

func isBundleName(name string) bool {
	return strings.HasSuffix(name, ".rego") || name == "data.json"
}

// revision hashes each file's path and bytes, in order, each length-prefixed
// (8-byte big-endian) so that no two different bundles hash the same input.
func revision(files []sourceFile) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.path)))
		h.Write(n[:])
		h.Write([]byte(f.path))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.data)))
		h.Write(n[:])
		h.Write(f.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func mergeSorted(a, b []sourceFile) []sourceFile {
	out := slices.Concat(a, b)
	slices.SortFunc(out, func(x, y sourceFile) int { return strings.Compare(x.path, y.path) })
	return out
}
