package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sprintAll formats v every way a log line or error might.
func sprintAll(v any) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v %s ", v, v, v, v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
	return buf.String()
}

func newStore(t *testing.T, spec string) (*FileStore, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "records")
	s, err := NewFileStore(dir, mustRing(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// storeFiles maps every regular file under dir (relative path) to its content.
func storeFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFileStore_SaveLoadDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, dir := newStore(t, "k1:"+newKey(t))
	k := Key{"acme", "alice@example.com", "github"}
	if _, err := s.Load(ctx, k); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("empty store: err = %v", err)
	}
	rec := Record{AccessToken: "gho_0123456789abcdef", RefreshToken: "ghr_fedcba9876543210", TokenType: "bearer",
		Expiry: time.Now().Add(time.Hour).Round(0).UTC(), Scopes: []string{"repo"}, ConnectedAt: time.Now().UTC()}
	if err := s.Save(ctx, k, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, k)
	if err != nil || got.AccessToken != rec.AccessToken || got.RefreshToken != rec.RefreshToken ||
		!got.Expiry.Equal(rec.Expiry) || got.Provider != "github" || got.Scopes[0] != "repo" {
		t.Fatalf("Load = %v, %v", got, err)
	}
	files := storeFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("files = %v", files)
	}
	for name, content := range files {
		for _, clear := range []string{"alice", "acme", "github"} {
			if strings.Contains(name, clear) {
				t.Errorf("file name %q contains %q", name, clear)
			}
		}
		for _, secret := range []string{rec.AccessToken, rec.RefreshToken, "alice"} {
			if bytes.Contains(content, []byte(secret)) {
				t.Errorf("file contains %q in clear", secret)
			}
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("file mode = %v, %v", fi.Mode(), err)
		}
		di, err := os.Stat(filepath.Dir(filepath.Join(dir, name)))
		if err != nil || di.Mode().Perm() != 0o700 {
			t.Errorf("user dir mode = %v, %v", di.Mode(), err)
		}
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, k); !errors.Is(err, ErrNoRecord) {
		t.Errorf("after delete: err = %v", err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if len(storeFiles(t, dir)) != 0 {
		t.Error("files left after delete")
	}
}

func TestFileStore_CopiedOrTamperedRecordRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t, "k1:"+newKey(t))
	alice, bob := Key{"acme", "alice", "github"}, Key{"acme", "bob", "github"}
	if err := s.Save(ctx, alice, Record{AccessToken: "alice-token"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, bob, Record{AccessToken: "bob-token"}); err != nil {
		t.Fatal(err)
	}
	// An attacker with write access copies alice's file into bob's slot.
	data, err := os.ReadFile(s.path(alice))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path(bob), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, bob); !errors.Is(err, ErrOpen) {
		t.Errorf("copied record: err = %v, want ErrOpen", err)
	}
	if entries, err := s.UserRecords(ctx, "acme", "bob"); len(entries) != 0 || !errors.Is(err, ErrOpen) {
		t.Errorf("UserRecords of the copied slot = %v, %v", entries, err)
	}
	// A flipped ciphertext byte.
	data[len(data)/2] ^= 1
	if err := os.WriteFile(s.path(alice), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, alice); err == nil {
		t.Error("tampered record opened")
	}
}

func TestFileStore_UserRecordsAndDeleteUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t, "k1:"+newKey(t))
	for _, k := range []Key{{"acme", "alice", "github"}, {"acme", "alice", "google"}, {"acme", "bob", "github"}, {"other", "alice", "github"}} {
		if err := s.Save(ctx, k, Record{AccessToken: k.String()}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := s.UserRecords(ctx, "acme", "alice")
	if err != nil || len(entries) != 2 {
		t.Fatalf("UserRecords = %v, %v", entries, err)
	}
	if err := s.DeleteUser(ctx, "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := s.UserRecords(ctx, "acme", "alice"); len(entries) != 0 {
		t.Errorf("after DeleteUser: %v", entries)
	}
	for _, k := range []Key{{"acme", "bob", "github"}, {"other", "alice", "github"}} {
		if _, err := s.Load(ctx, k); err != nil {
			t.Errorf("%s gone with another user's records: %v", k, err)
		}
	}
}

// TestFileStore_RotationAndRewrap walks the documented procedure: add a
// new current key, Rewrap, drop the old key.
func TestFileStore_RotationAndRewrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old, next := newKey(t), newKey(t)
	dir := filepath.Join(t.TempDir(), "records")
	open := func(spec string) *FileStore {
		s, err := NewFileStore(dir, mustRing(t, spec))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	keys := []Key{{"acme", "alice", "github"}, {"acme", "bob", "github"}, {"acme", "bob", "google"}}
	s1 := open("k1:" + old)
	for _, k := range keys {
		if err := s1.Save(ctx, k, Record{AccessToken: "tok-" + k.User + "-" + k.Provider}); err != nil {
			t.Fatal(err)
		}
	}

	// Step 1: k2 current, k1 still in the ring: old records open.
	s2 := open("k2:" + next + ",k1:" + old)
	if r, err := s2.Load(ctx, keys[0]); err != nil || r.AccessToken != "tok-alice-github" {
		t.Fatalf("old record under the new ring: %v %v", r, err)
	}
	if err := s2.Save(ctx, keys[0], Record{AccessToken: "tok-alice-github-2"}); err != nil {
		t.Fatal(err)
	}
	rep, err := s2.Rewrap(ctx)
	if err != nil || rep.Rewrapped != 2 || rep.AlreadyCurrent != 1 || len(rep.Failed) != 0 {
		t.Fatalf("Rewrap = %+v, %v", rep, err)
	}
	for _, content := range storeFiles(t, dir) {
		if !bytes.Contains(content, []byte(`"kid":"k2"`)) {
			t.Errorf("record not under k2 after Rewrap: %.40s…", content)
		}
	}
	if rep, err := s2.Rewrap(ctx); err != nil || rep.Rewrapped != 0 || rep.AlreadyCurrent != 3 {
		t.Errorf("second Rewrap = %+v, %v", rep, err)
	}

	// Step 2: k1 removed: everything still opens.
	s3 := open("k2:" + next)
	for _, k := range keys {
		if _, err := s3.Load(ctx, k); err != nil {
			t.Errorf("%s after dropping k1: %v", k, err)
		}
	}

	// Removing a key before Rewrap: a clear error, and Rewrap reports it.
	if err := s3.Save(ctx, keys[1], Record{AccessToken: "x"}); err != nil {
		t.Fatal(err)
	}
	s4 := open("k3:" + newKey(t))
	_, err = s4.Load(ctx, keys[1])
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `key id "k2"`) || !strings.Contains(err.Error(), "k3") {
		t.Errorf("removed key: err = %v", err)
	}
	if rep, err := s4.Rewrap(ctx); err == nil || len(rep.Failed) != 3 || !strings.Contains(err.Error(), "3 record(s)") {
		t.Errorf("Rewrap with the key gone = %+v, %v", rep, err)
	}
}

func TestNewFileStore_RefusesOpenDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileStore(dir, mustRing(t, "k1:"+newKey(t))); err == nil || !strings.Contains(err.Error(), "want 0700") {
		t.Errorf("err = %v", err)
	}
	if _, err := NewFileStore(t.TempDir(), nil); err == nil {
		t.Error("nil key ring accepted")
	}
}
