package contentstore

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiongate/actiongate/internal/policy"
)

// defaultDir is the repository's policy/ directory: the embedded default
// bundle as files, with the same revision.
const defaultDir = "../../policy"

// copyBundle copies the default bundle to a new directory and applies edit
// to the named file.
func copyBundle(t *testing.T, file string, edit func(string) string) string {
	t.Helper()
	dst := t.TempDir()
	err := os.CopyFS(dst, os.DirFS(defaultDir))
	if err != nil {
		t.Fatal(err)
	}
	if file != "" {
		p := filepath.Join(dst, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(edit(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestRecordPolicy_RoundTripsTheRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, Options{NoSync: true})
	rev := policy.EmbeddedDefault().Revision()
	if err := s.RecordBundle(loadBundle(t, defaultDir)); err != nil {
		t.Fatal(err)
	}
	b, err := s.LoadPolicy(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if b.Revision() != rev || strings.Join(b.Files(), ",") != strings.Join(policy.EmbeddedDefault().Files(), ",") {
		t.Fatalf("loaded %s %v; want %s %v", b.Revision(), b.Files(), rev, policy.EmbeddedDefault().Files())
	}
	if _, err := policy.Compile(ctx, b); err != nil {
		t.Fatal(err)
	}
	path, _ := s.path(KindPolicy, rev)
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("policy file mode %v, %v; want 0644", st.Mode(), err)
	}
	// The archive holds exactly the revision's files, tests left out.
	raw, _ := os.ReadFile(path)
	tr := tar.NewReader(bytes.NewReader(raw))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "actiongate/authz.rego,actiongate/data.json" {
		t.Errorf("archive entries %v", names)
	}
	// Put of the archive itself is idempotent and gives the revision back.
	if a, err := s.Put(KindPolicy, raw); err != nil || a != rev {
		t.Errorf("Put(archive) = %s, %v", a, err)
	}
}

func TestRecordPolicy_RefusesWrongRevision(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{NoSync: true})
	rev := policy.EmbeddedDefault().Revision()
	changed := copyBundle(t, "actiongate/data.json", func(s string) string {
		return strings.Replace(s, "1000000", "2000000", 1)
	})
	b := loadBundle(t, changed)
	// Files that are not the revision's are refused under its name.
	if err := s.RecordPolicy(rev, b.RevisionFiles()); err == nil || !strings.Contains(err.Error(), "hash to revision") {
		t.Fatalf("changed files recorded as %s: %v", rev, err)
	}
	if b.Revision() == rev {
		t.Fatal("the edit did not change the revision")
	}
	if err := s.RecordBundle(b); err != nil {
		t.Fatal(err)
	}
	// Tests are not part of a revision, hidden files and other files neither.
	extra := copyBundle(t, "actiongate/authz_test.rego", func(s string) string { return s + "\n# edited\n" })
	if err := os.WriteFile(filepath.Join(extra, ".swp.rego"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(extra, "README.md"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if eb := loadBundle(t, extra); eb.Revision() != rev {
		t.Errorf("test and unrelated files changed the revision: %s", eb.Revision())
	} else if err := s.RecordBundle(eb); err != nil {
		t.Error(err)
	}
	for name, files := range map[string][]PolicyFile{
		"no module":   {{Path: "a/data.json", Data: []byte(`{}`)}},
		"traversal":   {{Path: "../x.rego", Data: []byte("package x")}},
		"hidden":      {{Path: ".git/x.rego", Data: []byte("package x")}},
		"test file":   {{Path: "x_test.rego", Data: []byte("package x")}},
		"duplicate":   {{Path: "x.rego", Data: nil}, {Path: "x.rego", Data: nil}},
		"other files": {{Path: "x.rego", Data: nil}, {Path: "notes.txt", Data: nil}},
	} {
		if err := s.RecordPolicy(policy.RevisionOf(files), files); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
}

func TestLoadPolicy_DetectsTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, Options{NoSync: true})
	rev := policy.EmbeddedDefault().Revision()
	if err := s.RecordBundle(policy.EmbeddedDefault()); err != nil {
		t.Fatal(err)
	}
	path, _ := s.path(KindPolicy, rev)
	raw, _ := os.ReadFile(path)
	// Same length, one rule weakened: the tar stays well-formed.
	i := bytes.Index(raw, []byte(`"restricted_instruments"`))
	if i < 0 {
		t.Fatal("data.json has no restricted_instruments")
	}
	tampered := bytes.Clone(raw)
	copy(tampered[i:], `"restricted_instrumentX"`)
	if err := os.WriteFile(path, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.LoadPolicy(ctx, rev)
	if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), rev) {
		t.Fatalf("tampered bundle: %v", err)
	}
	if err := os.WriteFile(path, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadPolicy(ctx, rev); !errors.Is(err, ErrTampered) {
		t.Fatalf("garbage bundle: %v", err)
	}
	os.Remove(path)
	if _, err := s.LoadPolicy(ctx, rev); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing bundle: %v", err)
	}
}

// The embedded default is recorded from the bytes compiled into the binary.
func TestRecordBundle_EmbeddedDefault(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{NoSync: true})
	rev := policy.EmbeddedDefault().Revision()
	if err := s.RecordBundle(policy.EmbeddedDefault()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadPolicy(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
}

func loadBundle(t *testing.T, dir string) *policy.Bundle {
	t.Helper()
	b, err := policy.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
