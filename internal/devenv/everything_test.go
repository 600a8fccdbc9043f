package devenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestEverythingServesMCPOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	dir, err := FindEverything()
	RequireDep(t, "@modelcontextprotocol/server-everything", err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	began := time.Now()
	e, err := StartEverything(ctx, EverythingOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	showLogsOnFailure(t, "server-everything", e.Logs)
	t.Logf("server-everything ready at %s in %s", e.URL, time.Since(began).Round(time.Millisecond))

	assertToolsList(ctx, t, e.URL)
	_, portStr, _ := net.SplitHostPort(e.Addr)
	port, _ := strconv.Atoi(portStr)
	assertListensOnLoopbackOnly(t, port)
	assertUnreachableOffLoopback(t, port)
	if !strings.Contains(e.Logs.String(), "actiongate-loopback: listening on 127.0.0.1:"+portStr) {
		t.Errorf("preload did not report its bind")
	}

	e.Stop()
	if c, err := net.DialTimeout("tcp", e.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("server-everything still accepts connections after Stop")
	}
	if _, err := os.Stat(e.preload); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("preload %s left behind", e.preload)
	}
}

func assertToolsList(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "devenv-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	names := map[string]bool{}
	for _, tl := range res.Tools {
		names[tl.Name] = true
	}
	for _, want := range []string{"echo", "get-sum"} {
		if !names[want] {
			t.Errorf("tools/list lacks %q (has %v)", want, names)
		}
	}
	out, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi there"}})
	if err != nil {
		t.Fatalf("call echo: %v", err)
	}
	if len(out.Content) == 0 || !strings.Contains(fmt.Sprint(out.Content[0].(*mcp.TextContent).Text), "hi there") {
		t.Errorf("echo returned %+v", out.Content)
	}
}

// assertListensOnLoopbackOnly reads the kernel's socket tables: every
// listening socket on port must be 127.0.0.1, and there must be one.
func assertListensOnLoopbackOnly(t *testing.T, port int) {
	t.Helper()
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Log("no /proc/net/tcp; checking reachability only")
		return
	}
	var found int
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, local := range listeners(t, table, port) {
			found++
			if local != "0100007F" { // 127.0.0.1, little-endian hex
				t.Errorf("%s: listener on port %d bound to %s, want 127.0.0.1 (0100007F)", table, port, local)
			}
		}
	}
	if found == 0 {
		t.Errorf("no listening socket on port %d in /proc/net/tcp{,6}", port)
	}
}

// listeners returns the hex local addresses of LISTEN sockets on port.
func listeners(t *testing.T, table string, port int) []string {
	t.Helper()
	f, err := os.Open(table)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" { // 0A = LISTEN
			continue
		}
		host, hexPort, ok := strings.Cut(fields[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
			out = append(out, host)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertUnreachableOffLoopback dials the port on each non-loopback address
// of this machine; none may answer.
func assertUnreachableOffLoopback(t *testing.T, port int) {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		target := net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port))
		if c, err := net.DialTimeout("tcp", target, time.Second); err == nil {
			c.Close()
			t.Errorf("server reachable on non-loopback address %s", target)
		}
	}
	if tried == 0 {
		t.Log("no non-loopback address on this machine; relied on the socket table")
	}
}

// TestEnsureEverythingInstalls runs the install path against a stand-in
// `npm` that records its arguments and lays out the package, and checks
// that a wrong installed version counts as not installed.
func TestEnsureEverythingInstalls(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "npm")
	bin := t.TempDir()
	record := filepath.Join(t.TempDir(), "invocation")
	pkgDir := filepath.Join(prefix, "node_modules", "@modelcontextprotocol", "server-everything")
	fakeNPM := "#!/bin/sh\n" +
		"echo \"$@\" > " + record + "\n" +
		"mkdir -p " + pkgDir + "/dist && touch " + pkgDir + "/dist/index.js\n" +
		"echo '{\"name\":\"@modelcontextprotocol/server-everything\",\"version\":\"2026.8.31\"}' > " + pkgDir + "/package.json\n"
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(fakeNPM), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv(EnvNPMDir, prefix)

	// An older version in place is not the pinned one.
	if err := os.MkdirAll(filepath.Join(pkgDir, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkgDir, "package.json"), []byte(`{"version":"2025.1.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindEverything(); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "2025.1.1") {
		t.Fatalf("old version: %v, want ErrNotInstalled naming it", err)
	}

	var progress strings.Builder
	dir, err := EnsureEverything(t.Context(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if dir != pkgDir {
		t.Fatalf("dir %q, want %q", dir, pkgDir)
	}
	inv, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	want := "install --prefix " + prefix + " --no-audit --no-fund @modelcontextprotocol/server-everything@2026.8.31\n"
	if string(inv) != want {
		t.Fatalf("npm invoked as %q, want %q", inv, want)
	}
	if !strings.Contains(progress.String(), "installing @modelcontextprotocol/server-everything@2026.8.31") {
		t.Fatalf("progress %q", progress.String())
	}
}
