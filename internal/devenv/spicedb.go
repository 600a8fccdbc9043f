package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// SpiceDBVersion is the SpiceDB release EnsureSpiceDB builds. v1.57 needs a
// newer Go than ours.
const SpiceDBVersion = "v1.56.2"

const spiceDBModule = "github.com/authzed/spicedb/cmd/spicedb"

// FindSpiceDB returns the SpiceDB binary to use without building one:
// $ACTIONGATE_SPICEDB, else spicedb on PATH, else <ToolDir>/spicedb. An
// error wrapping ErrNotInstalled means none exists; a bad
// $ACTIONGATE_SPICEDB is a different error, because it is a mistake.
func FindSpiceDB() (string, error) {
	if p := os.Getenv(EnvSpiceDB); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("$%s is set but unusable: %v", EnvSpiceDB, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("spicedb"); err == nil {
		return p, nil
	}
	dir, err := ToolDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "spicedb")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("SpiceDB binary (looked at $%s, PATH, %s): %w", EnvSpiceDB, p, err)
	}
	return p, nil
}

// EnsureSpiceDB returns a SpiceDB binary, building SpiceDBVersion into
// <ToolDir>/spicedb with `go install` when FindSpiceDB finds none. The build
// takes minutes on a small machine; progress gets a line every 15 s.
func EnsureSpiceDB(ctx context.Context, progress io.Writer) (string, error) {
	return ensureSpiceDB(ctx, progress, progressEvery)
}

func ensureSpiceDB(ctx context.Context, progress io.Writer, every time.Duration) (string, error) {
	p, err := FindSpiceDB()
	if !errors.Is(err, ErrNotInstalled) {
		return p, err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building SpiceDB needs the go command on PATH: %w", err)
	}
	dir, err := ToolDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create tool directory: %w", err)
	}
	// Build into a private directory and rename into place, so a concurrent
	// run never sees (or executes) a half-written binary.
	gobin, err := os.MkdirTemp(dir, ".spicedb-build-")
	if err != nil {
		return "", fmt.Errorf("create build directory: %w", err)
	}
	defer os.RemoveAll(gobin)
	cmd := exec.CommandContext(ctx, goTool, "install", spiceDBModule+"@"+SpiceDBVersion)
	cmd.Dir = gobin // outside any module or workspace of the caller
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "GOFLAGS=")
	label := "building SpiceDB " + SpiceDBVersion + " (first run only, ~5 min)"
	if err := runWithProgress(ctx, cmd, progress, label, every); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "spicedb")
	if err := os.Rename(filepath.Join(gobin, "spicedb"), dst); err != nil {
		return "", fmt.Errorf("install SpiceDB into %s: %w", dir, err)
	}
	return dst, executable(dst)
}

// SpiceDBOptions configure StartSpiceDB.
type SpiceDBOptions struct {
	// Binary is the spicedb executable; FindSpiceDB's answer if empty.
	Binary string
	// Addr is the gRPC listen address; 127.0.0.1 on a free port if empty or
	// "127.0.0.1:0".
	Addr string
	// PresharedKey authenticates clients; random if empty.
	PresharedKey string
	// StartTimeout bounds start-up; 30 s if zero.
	StartTimeout time.Duration
}

// SpiceDB is a running SpiceDB server with the in-memory datastore.
type SpiceDB struct {
	// Endpoint is the plaintext gRPC address, host:port.
	Endpoint     string
	PresharedKey string
	Logs         *Logs
	proc         *process
}

// Stop kills the server (and anything it spawned) and waits for it.
func (s *SpiceDB) Stop() { s.proc.stop() }

// StartSpiceDB runs `spicedb serve` on loopback with the memory datastore,
// with the HTTP gateway, metrics, dispatch cluster, telemetry and release
// check off, and returns once an authenticated gRPC call succeeds. It is
// stopped when ctx ends or Stop is called.
func StartSpiceDB(ctx context.Context, opts SpiceDBOptions) (*SpiceDB, error) {
	if opts.Binary == "" {
		p, err := FindSpiceDB()
		if err != nil {
			return nil, err
		}
		opts.Binary = p
	}
	if opts.PresharedKey == "" {
		opts.PresharedKey = randomKey()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	host, fixed, err := splitListenAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	var s *SpiceDB
	err = retryPort(fixed, func(port int) error {
		s, err = startSpiceDBOn(ctx, opts, net.JoinHostPort(host, strconv.Itoa(port)))
		return err
	})
	return s, err
}

func startSpiceDBOn(ctx context.Context, opts SpiceDBOptions, addr string) (*SpiceDB, error) {
	args := []string{"serve",
		"--grpc-addr", addr,
		"--datastore-engine", "memory",
		"--http-enabled=false",
		"--metrics-enabled=false",
		"--dispatch-cluster-enabled=false",
		"--skip-release-check",
		"--telemetry-endpoint=",
		"--log-format", "json",
	}
	// The key goes in the environment, not argv, where any local user could
	// read it from the process list.
	env := []string{"SPICEDB_GRPC_PRESHARED_KEY=" + opts.PresharedKey}
	p, err := startProcess(ctx, "spicedb", "", opts.Binary, args, env)
	if err != nil {
		return nil, err
	}
	s := &SpiceDB{Endpoint: addr, PresharedKey: opts.PresharedKey, Logs: p.logs, proc: p}
	if err := p.waitReady(ctx, opts.StartTimeout, s.probe); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping makes one authenticated call to the running server.
func (s *SpiceDB) Ping(ctx context.Context) error { return s.probe(ctx) }

// probe makes one authenticated call. NotFound (no schema written yet) is
// the answer of a ready, empty server; Unauthenticated means the key was not
// taken, which waiting cannot fix.
func (s *SpiceDB) probe(ctx context.Context) error {
	c, err := authzed.NewClient(s.Endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpcutil.WithInsecureBearerToken(s.PresharedKey))
	if err != nil {
		return &stopPolling{fmt.Errorf("spicedb client: %w", err)}
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = c.ReadSchema(cctx, &v1.ReadSchemaRequest{})
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		return nil
	case codes.Unauthenticated, codes.PermissionDenied:
		return &stopPolling{fmt.Errorf("spicedb rejected the preshared key: %w", err)}
	default:
		return err
	}
}

// splitListenAddr splits addr ("" means 127.0.0.1:0) into host and port.
func splitListenAddr(addr string) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", 0, nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q: bad port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
