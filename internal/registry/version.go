package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gitTimeout bounds each git invocation; a hung git must not stall a reload.
const gitTimeout = 3 * time.Second

// contentHash is "sha256:<hex>" over every file's relative path and bytes,
// in sorted path order, each length-prefixed (8-byte big-endian) so that no
// two different directories produce the same input.
func contentHash(files []sourceFile) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.rel)))
		h.Write(n[:])
		h.Write([]byte(f.rel))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.data)))
		h.Write(n[:])
		h.Write(f.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// gitHead returns the HEAD commit of the repository holding dir, or "" when
// git is missing, dir is not in a repository, or it has no commits yet.
func gitHead(dir string) string {
	out, ok := runGit(dir, "rev-parse", "--verify", "--quiet", "HEAD")
	head := strings.TrimSpace(out)
	if !ok || !isCommitID(head) {
		return ""
	}
	return head
}

// cleanCommit returns headBefore only if nothing under dir differs from it:
// no modified, staged, untracked or ignored file, and HEAD did not move
// while the files were being read. Otherwise the content hash alone
// identifies the version, since no commit holds exactly what was loaded.
func cleanCommit(dir, headBefore string) string {
	if headBefore == "" {
		return ""
	}
	status, ok := runGit(dir, "status", "--porcelain", "--ignored", "--", ".")
	if !ok || status != "" {
		return ""
	}
	if gitHead(dir) != headBefore {
		return ""
	}
	return headBefore
}

// runGit runs git in dir without taking the index lock (the watcher polls
// repositories people are working in) and without running a repository's
// configured fsmonitor hook.
func runGit(dir string, args ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), gitTimeout)
	defer cancel()
	full := append([]string{"--no-optional-locks", "-c", "core.fsmonitor=false", "-C", dir}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = gitEnv()
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", false
	}
	return out.String(), true
}

// gitEnv drops variables that would point git at some other repository
// than the one holding the registry directory.
func gitEnv() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GIT_TERMINAL_PROMPT=0")
}

// isCommitID accepts SHA-1 and SHA-256 object names.
func isCommitID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
