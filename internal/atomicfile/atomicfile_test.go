package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "record")
	if err := Write(path, []byte("one"), 0o600, Options{}); err == nil {
		t.Fatal("wrote into a missing directory without MkdirMode")
	}
	for _, o := range []Options{{MkdirMode: 0o700}, {NoSync: true}} {
		if err := Write(path, []byte("two"), 0o600, o); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", st.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	// A failed write leaves the old content and no temporary file.
	if err := os.Chmod(filepath.Dir(path), 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Dir(path), 0o700)
	if os.Geteuid() != 0 { // root ignores directory permissions
		if err := Write(path, []byte("three"), 0o600, Options{}); err == nil {
			t.Fatal("wrote into a read-only directory")
		}
		if b, _ := os.ReadFile(path); string(b) != "two" {
			t.Fatalf("content after a failed write %q", b)
		}
	}
}
