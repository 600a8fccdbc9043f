package contentstore

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/policy"
)

// A policy bundle is stored as a tar archive of exactly the files that make
// up its revision (modules and data.json files; tests excluded), sorted by
// path, regular files with mode 0644, owner 0 and time 0. `tar -xf` gives an
// auditor the bundle back as a directory; internal/policy loads that
// directory and must report the same revision.

// PolicyFile is one file of a bundle: its path relative to the bundle root,
// with forward slashes, and its bytes.
type PolicyFile struct {
	Path string
	Data []byte
}

// RecordPolicy stores the bundle of revision made of files (the modules and
// data files that policy.Bundle.Files lists). It fails if the files do not
// hash to revision. Recording a revision this store already recorded costs
// a map lookup, so it may be called on every decision.
func (s *Store) RecordPolicy(revision string, files []PolicyFile) error {
	if s.isRecorded(KindPolicy, revision) {
		return nil
	}
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b PolicyFile) int { return strings.Compare(a.Path, b.Path) })
	if err := checkPolicyFiles(files); err != nil {
		return fmt.Errorf("policy %s: %w", revision, err)
	}
	if got := revisionOf(files); got != revision {
		return fmt.Errorf("policy %s: the files hash to revision %s", revision, got)
	}
	archive, err := writeArchive(files)
	if err != nil {
		return fmt.Errorf("policy %s: %w", revision, err)
	}
	return s.put(KindPolicy, revision, archive)
}

// RecordPolicyDir reads the bundle directory dir as internal/policy does and
// records it, if it still holds revision. Call it when a policy.Watcher
// swaps in a revision (WatchOptions.OnChange) and at start; if the
// directory changed again in between, it fails and the next reload records
// the newer revision.
func (s *Store) RecordPolicyDir(dir, revision string) error {
	if s.isRecorded(KindPolicy, revision) {
		return nil
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("policy bundle %s: %w", dir, err)
	}
	return s.RecordPolicyFS(os.DirFS(root), revision)
}

// RecordPolicyFS is RecordPolicyDir for a file system (the embedded default
// bundle is one).
func (s *Store) RecordPolicyFS(fsys fs.FS, revision string) error {
	if s.isRecorded(KindPolicy, revision) {
		return nil
	}
	files, err := readPolicyFS(fsys)
	if err != nil {
		return fmt.Errorf("policy %s: %w", revision, err)
	}
	return s.RecordPolicy(revision, files)
}

// PolicyFiles returns the stored files of revision, verified.
func (s *Store) PolicyFiles(revision string) ([]PolicyFile, error) {
	data, err := s.Get(KindPolicy, revision)
	if err != nil {
		return nil, err
	}
	return readArchive(data)
}

// LoadPolicy loads the stored bundle of revision with internal/policy's own
// loader and checks that it reports revision: the bundle replay compiles is
// the one that decided.
func (s *Store) LoadPolicy(ctx context.Context, revision string) (*policy.Bundle, error) {
	files, err := s.PolicyFiles(revision)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "actiongate-policy-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, f.Data, 0o600); err != nil {
			return nil, err
		}
	}
	b, err := policy.LoadBundle(tmp)
	if err != nil {
		return nil, fmt.Errorf("stored policy %s does not load: %w", revision, err)
	}
	if b.Revision() != revision {
		return nil, fmt.Errorf("stored policy %s loads as revision %s", revision, b.Revision())
	}
	return b, nil
}

func (s *Store) isRecorded(kind Kind, addr string) bool {
	p, err := s.path(kind, addr)
	if err != nil {
		return false
	}
	_, ok := s.recorded.Load(p)
	return ok
}

// readPolicyFS selects the files internal/policy hashes into a revision:
// *.rego except *_test.rego, and data.json, at any depth, nothing hidden,
// symlinked files read through.
func readPolicyFS(fsys fs.FS) ([]PolicyFile, error) {
	var out []PolicyFile
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
		if d.IsDir() || !revisionFile(d.Name()) {
			return nil
		}
		info, err := fs.Stat(fsys, p)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() || info.Size() > policy.MaxFileBytes {
			return fmt.Errorf("%s: not a regular file of at most %d bytes", p, policy.MaxFileBytes)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, PolicyFile{Path: p, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b PolicyFile) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// revisionFile: a module or a data file, the files a revision covers.
func revisionFile(name string) bool {
	return name == "data.json" || strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego")
}

// checkPolicyFiles accepts only what internal/policy would load into a
// revision from a directory, so that extracting the archive and loading it
// reproduces the revision: clean relative paths, nothing hidden, strictly
// sorted, within the size limit, at least one module.
func checkPolicyFiles(files []PolicyFile) error {
	modules := 0
	for i, f := range files {
		if !fs.ValidPath(f.Path) || f.Path == "." || strings.Contains(f.Path, "\\") {
			return fmt.Errorf("file %q: not a clean relative path", f.Path)
		}
		for _, part := range strings.Split(f.Path, "/") {
			if strings.HasPrefix(part, ".") {
				return fmt.Errorf("file %q: hidden path", f.Path)
			}
		}
		if !revisionFile(path.Base(f.Path)) {
			return fmt.Errorf("file %q: neither a module nor data.json", f.Path)
		}
		if len(f.Data) > policy.MaxFileBytes {
			return fmt.Errorf("file %q: %d bytes; the limit is %d", f.Path, len(f.Data), policy.MaxFileBytes)
		}
		if i > 0 && files[i-1].Path >= f.Path {
			return fmt.Errorf("file %q: duplicate or out of order", f.Path)
		}
		if strings.HasSuffix(f.Path, ".rego") {
			modules++
		}
	}
	if modules == 0 {
		return errors.New("no .rego modules")
	}
	return nil
}

// revisionOf is internal/policy's revision (docs/policy.md): SHA-256 over
// each file's path and bytes in path order, each length-prefixed.
func revisionOf(files []PolicyFile) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Path)))
		h.Write(n[:])
		h.Write([]byte(f.Path))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Data)))
		h.Write(n[:])
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

var epoch = time.Unix(0, 0).UTC()

// writeArchive writes sorted, checked files as the canonical tar.
func writeArchive(files []PolicyFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Size: int64(len(f.Data)), Mode: 0o644, ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readArchive reads a policy archive strictly: regular files only, each a
// revision file, sorted; anything else is an error, not skipped.
func readArchive(data []byte) ([]PolicyFile, error) {
	tr := tar.NewReader(bytes.NewReader(data))
	var files []PolicyFile
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("entry %q: not a regular file", hdr.Name)
		}
		if hdr.Size > policy.MaxFileBytes {
			return nil, fmt.Errorf("entry %q: %d bytes; the limit is %d", hdr.Name, hdr.Size, policy.MaxFileBytes)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		files = append(files, PolicyFile{Path: hdr.Name, Data: b})
	}
	if err := checkPolicyFiles(files); err != nil {
		return nil, err
	}
	return files, nil
}
