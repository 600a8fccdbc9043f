package registry

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitIn runs git in dir (see isolateGit).
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// isolateGit gives git an identity and hides user and system config, so
// the test behaves the same on any machine. It uses t.Setenv: callers
// cannot be parallel.
func isolateGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	for k, v := range map[string]string{
		"GIT_AUTHOR_NAME": "Registry Test", "GIT_AUTHOR_EMAIL": "test@example.com",
		"GIT_COMMITTER_NAME": "Registry Test", "GIT_COMMITTER_EMAIL": "test@example.com",
		"GIT_CONFIG_GLOBAL": os.DevNull, "GIT_CONFIG_NOSYSTEM": "1",
	} {
		t.Setenv(k, v)
	}
}

func TestLoad_GitCommit(t *testing.T) {
	isolateGit(t)
	repo := t.TempDir()
	dir := filepath.Join(repo, "registry")
	writeTree(t, dir, baseFixture())
	writeTree(t, repo, map[string]string{"README.md": "repo\n"})

	load := func() Version {
		t.Helper()
		reg, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return reg.Version
	}
	if v := load(); v.Commit != "" {
		t.Fatalf("commit %q recorded outside a git repository", v.Commit)
	}

	gitIn(t, repo, "init", "-q")
	if v := load(); v.Commit != "" {
		t.Fatalf("commit %q recorded for a repository without commits", v.Commit)
	}
	gitIn(t, repo, "add", ".")
	gitIn(t, repo, "commit", "-q", "-m", "registry")
	head := gitIn(t, repo, "rev-parse", "HEAD")

	clean := load()
	if clean.Commit != head || clean.String() != "git:"+head || clean.ContentHash == "" {
		t.Fatalf("clean checkout: version %+v, want commit %s", clean, head)
	}

	// Changes outside the registry directory do not matter.
	writeTree(t, repo, map[string]string{"README.md": "changed\n"})
	if v := load(); v.Commit != head {
		t.Errorf("change outside the registry cleared the commit: %+v", v)
	}

	steps := []struct {
		name  string
		apply func()
	}{
		{"modified file", func() {
			writeTree(t, dir, map[string]string{"tenants.yaml": strings.Replace(fixtureTenants, "Acme Corp", "Acme Inc", 1)})
		}},
		{"staged file", func() { gitIn(t, repo, "add", "registry/tenants.yaml") }},
		{"untracked file", func() {
			gitIn(t, repo, "commit", "-q", "-m", "rename")
			writeTree(t, dir, map[string]string{"notes.txt": "draft\n"})
		}},
	}
	for _, s := range steps {
		s.apply()
		if v := load(); v.Commit != "" || v.String() != v.ContentHash {
			t.Errorf("%s: version %+v, want no commit", s.name, v)
		}
	}
	if err := os.Remove(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	if v, newHead := load(), gitIn(t, repo, "rev-parse", "HEAD"); v.Commit != newHead || newHead == head {
		t.Errorf("after committing: version %+v, want commit %s", v, newHead)
	}
}

func TestIsCommitID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		strings.Repeat("a", 40): true,
		strings.Repeat("0", 64): true,
		strings.Repeat("g", 40): false,
		"HEAD":                  false,
		"":                      false,
	} {
		if got := isCommitID(s); got != want {
			t.Errorf("isCommitID(%q) = %v", s, got)
		}
	}
}
