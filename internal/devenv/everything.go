package devenv

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EverythingVersion is the pinned @modelcontextprotocol/server-everything.
const EverythingVersion = "2026.8.31"

const everythingPkg = "@modelcontextprotocol/server-everything"

//go:embed loopback_preload.cjs
var loopbackPreload []byte

// npmPrefix is the npm prefix the reference server lives under:
// $ACTIONGATE_NPM_DIR, else <ToolDir>/npm.
func npmPrefix() (string, error) {
	if d := os.Getenv(EnvNPMDir); d != "" {
		return filepath.Abs(d)
	}
	dir, err := ToolDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "npm"), nil
}

// FindEverything returns the package directory of the pinned reference MCP
// server without installing it. An error wrapping ErrNotInstalled means it
// is absent (or another version is installed).
func FindEverything() (string, error) {
	prefix, err := npmPrefix()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(prefix, "node_modules", filepath.FromSlash(everythingPkg))
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s@%s in %s: %w", everythingPkg, EverythingVersion, prefix, ErrNotInstalled)
	}
	if err != nil {
		return "", err
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(raw, &pkg); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, "package.json"), err)
	}
	if pkg.Version != EverythingVersion {
		return "", fmt.Errorf("%s in %s is version %q, want %s: %w", everythingPkg, prefix, pkg.Version, EverythingVersion, ErrNotInstalled)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "index.js")); err != nil {
		return "", fmt.Errorf("%s: incomplete install (%v): %w", dir, err, ErrNotInstalled)
	}
	return dir, nil
}

// EnsureEverything returns the reference server's package directory,
// installing the pinned version with npm first if needed.
func EnsureEverything(ctx context.Context, progress io.Writer) (string, error) {
	dir, err := FindEverything()
	if !errors.Is(err, ErrNotInstalled) {
		return dir, err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("installing %s needs npm on PATH: %w", everythingPkg, err)
	}
	prefix, err := npmPrefix()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return "", fmt.Errorf("create npm directory: %w", err)
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", prefix, "--no-audit", "--no-fund",
		everythingPkg+"@"+EverythingVersion)
	cmd.Dir = prefix
	label := "installing " + everythingPkg + "@" + EverythingVersion + " (first run only)"
	if err := runWithProgress(ctx, cmd, progress, label, progressEvery); err != nil {
		return "", err
	}
	return FindEverything()
}

// EverythingOptions configure StartEverything.
type EverythingOptions struct {
	// Dir is the package directory; FindEverything's answer if empty.
	Dir string
	// Node is the node executable; node on PATH if empty.
	Node string
	// Port on 127.0.0.1; a free one if zero.
	Port int
	// StartTimeout bounds start-up; 30 s if zero.
	StartTimeout time.Duration
}

// Everything is a running reference MCP server (Streamable HTTP).
type Everything struct {
	// URL is its MCP endpoint, http://127.0.0.1:<port>/mcp.
	URL string
	// Addr is 127.0.0.1:<port>.
	Addr    string
	Logs    *Logs
	proc    *process
	preload string
}

// Stop kills the server and removes its preload file.
func (e *Everything) Stop() {
	e.proc.stop()
	_ = os.Remove(e.preload)
}

// StartEverything runs the reference server with the streamableHttp
// transport, forced onto 127.0.0.1 by a preloaded script (the server itself
// listens on every interface), and returns once it answers an MCP
// initialize. It is stopped when ctx ends or Stop is called.
func StartEverything(ctx context.Context, opts EverythingOptions) (*Everything, error) {
	if err := everythingDefaults(&opts); err != nil {
		return nil, err
	}
	var e *Everything
	err := retryPort(opts.Port, func(port int) error {
		var err error
		e, err = startEverythingOn(ctx, opts, port)
		return err
	})
	return e, err
}

func everythingDefaults(opts *EverythingOptions) error {
	if opts.Dir == "" {
		dir, err := FindEverything()
		if err != nil {
			return err
		}
		opts.Dir = dir
	}
	if opts.Node == "" {
		node, err := exec.LookPath("node")
		if err != nil {
			return fmt.Errorf("node: %w (%v)", ErrNotInstalled, err)
		}
		opts.Node = node
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	return nil
}

func startEverythingOn(ctx context.Context, opts EverythingOptions, port int) (*Everything, error) {
	preload, err := writePreload()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"--require", preload, filepath.Join("dist", "index.js"), "streamableHttp"}
	env := []string{"PORT=" + strconv.Itoa(port), "ACTIONGATE_LISTEN_HOST=127.0.0.1"}
	p, err := startProcess(ctx, "server-everything", opts.Dir, opts.Node, args, env)
	if err != nil {
		_ = os.Remove(preload)
		return nil, err
	}
	e := &Everything{URL: "http://" + addr + "/mcp", Addr: addr, Logs: p.logs, proc: p, preload: preload}
	if err := p.waitReady(ctx, opts.StartTimeout, e.probe); err != nil {
		_ = os.Remove(preload)
		return nil, err
	}
	return e, nil
}

func writePreload() (string, error) {
	f, err := os.CreateTemp("", "actiongate-loopback-*.cjs")
	if err != nil {
		return "", fmt.Errorf("write node preload: %w", err)
	}
	_, werr := f.Write(loopbackPreload)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write node preload: %w", werr)
	}
	return f.Name(), nil
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"actiongate-devenv","version":"1"}}}`

// probe POSTs an MCP initialize and wants a 200 answer that mentions the
// server's name.
func (e *Everything) probe(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, e.URL, strings.NewReader(initializeBody))
	if err != nil {
		return &stopPolling{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"serverInfo"`) {
		return fmt.Errorf("initialize: %s %.200q", resp.Status, body)
	}
	return nil
}
