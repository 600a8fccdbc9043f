package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Environment variables that steer where dependencies come from.
const (
	// EnvTools overrides the tool directory.
	EnvTools = "ACTIONGATE_TOOLS"
	// EnvSpiceDB names the SpiceDB binary to use.
	EnvSpiceDB = "ACTIONGATE_SPICEDB"
	// EnvNPMDir overrides the npm prefix holding the reference MCP server.
	EnvNPMDir = "ACTIONGATE_NPM_DIR"
	// EnvRequireDeps, when set to anything but "" or "0", makes tests fail
	// instead of skip when a dependency is missing. CI sets it.
	EnvRequireDeps = "ACTIONGATE_REQUIRE_DEPS"
)

// ErrNotInstalled is wrapped by every "dependency not found" error, so a
// caller can tell "absent" (skip, or install it) from "broken" (fail).
var ErrNotInstalled = errors.New("not installed")

// progressEvery is how often a long build reports that it is still going.
const progressEvery = 15 * time.Second

// DepsRequired reports whether missing dependencies must fail rather than
// skip tests (EnvRequireDeps).
func DepsRequired() bool {
	v := os.Getenv(EnvRequireDeps)
	return v != "" && v != "0"
}

// TB is the part of testing.TB that RequireDep uses; devenv does not
// import testing because the quickstart links it too.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// RequireDep is how tests treat a dependency lookup (FindSpiceDB,
// FindEverything): nothing on success; a skip when the dependency is simply
// not installed and EnvRequireDeps is unset; a failure otherwise, including
// every missing dependency in CI.
func RequireDep(t TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotInstalled) && !DepsRequired() {
		t.Skipf("%s is not installed (%v); devenv.Ensure* (run by the quickstart) installs it, "+
			"and %s=1 turns this skip into a failure", what, err, EnvRequireDeps)
		return
	}
	t.Fatalf("%s: %v", what, err)
}

// ToolDir is where dependencies are built or installed: $ACTIONGATE_TOOLS,
// else $XDG_CACHE_HOME/actiongate/tools, else ~/.cache/actiongate/tools.
func ToolDir() (string, error) {
	if d := os.Getenv(EnvTools); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "actiongate", "tools"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the tool directory: set %s (%w)", EnvTools, err)
	}
	return filepath.Join(home, ".cache", "actiongate", "tools"), nil
}

// executable checks that path is a regular file someone may execute.
func executable(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", path, ErrNotInstalled)
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// runWithProgress runs cmd with its output in logs, writing "<label>… 45s"
// to progress every interval so a long first-run build does not look hung.
// On failure the error carries the end of the output.
func runWithProgress(ctx context.Context, cmd *exec.Cmd, progress io.Writer, label string, every time.Duration) error {
	if progress == nil {
		progress = io.Discard
	}
	logs := NewLogs(0)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(progress, "%s…\n", label)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s failed (%w); last output:\n%s", label, err, logs.Tail(errorTail))
			}
			fmt.Fprintf(progress, "%s… done in %s\n", label, time.Since(began).Round(time.Second))
			return nil
		case <-tick.C:
			fmt.Fprintf(progress, "%s… %s\n", label, time.Since(began).Round(time.Second))
		case <-ctx.Done():
			_ = killGroup(cmd.Process, true)
			<-done
			return fmt.Errorf("%s: %w", label, context.Cause(ctx))
		}
	}
}
