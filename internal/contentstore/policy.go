package contentstore

import (
	"archive/tar"
	"bytes"
	"context"
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

// PolicyFile is one file of a bundle (policy.File).
type PolicyFile = policy.File

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
	if got := policy.RevisionOf(files); got != revision {
		return fmt.Errorf("policy %s: the files hash to revision %s", revision, got)
	}
	archive, err := writeArchive(files)
	if err != nil {
		return fmt.Errorf("policy %s: %w", revision, err)
	}
	return s.put(KindPolicy, revision, archive)
}

// RecordBundle records a loaded bundle under its revision, from the bytes
// it was loaded from (not re-read: the directory may have moved on). Call
// it at start and whenever a policy.Watcher swaps in a revision.
func (s *Store) RecordBundle(b *policy.Bundle) error {
	return s.RecordPolicy(b.Revision(), b.RevisionFiles())
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
		if name := path.Base(f.Path); name != "data.json" && (!strings.HasSuffix(name, ".rego") || strings.HasSuffix(name, "_test.rego")) {
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
