package authzmodel

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/registry"
)

// shared is one SpiceDB for the package, synced with the example registry
// once in TestMain and only read by tests; tests that write start their own
// (a memory-datastore server starts in well under a second).
var shared struct {
	server *devenv.SpiceDB
	client *Client
	diff   Diff // what the first sync wrote
	err    error
}

func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	shared.err = startShared(ctx)
	code := m.Run()
	if shared.client != nil {
		_ = shared.client.Close()
	}
	if shared.server != nil {
		shared.server.Stop()
	}
	cancel()
	os.Exit(code)
}

func startShared(ctx context.Context) error {
	bin, err := devenv.FindSpiceDB()
	if err != nil {
		return err
	}
	srv, err := devenv.StartSpiceDB(ctx, devenv.SpiceDBOptions{Binary: bin})
	if err != nil {
		return fmt.Errorf("start spicedb: %w", err)
	}
	shared.server = srv
	c, err := Dial(ctx, Options{Endpoint: srv.Endpoint, PresharedKey: srv.PresharedKey, Insecure: true, Logger: quietLogger()})
	if err != nil {
		return err
	}
	shared.client = c
	reg, err := registry.Load(exampleRegistryDir())
	if err != nil {
		return err
	}
	shared.diff, err = c.Sync(ctx, reg, SyncOptions{})
	return err
}

// sharedClient is the package's SpiceDB, holding the example registry.
func sharedClient(t testing.TB) *Client {
	t.Helper()
	devenv.RequireDep(t, "SpiceDB (shared test server)", shared.err)
	return shared.client
}

// freshClient starts a SpiceDB of the test's own, with no schema.
func freshClient(t testing.TB) (*Client, *devenv.SpiceDB) {
	t.Helper()
	bin, err := devenv.FindSpiceDB()
	devenv.RequireDep(t, "SpiceDB", err)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := devenv.StartSpiceDB(ctx, devenv.SpiceDBOptions{Binary: bin})
	if err != nil {
		cancel()
		t.Fatalf("start spicedb: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spicedb logs (last 4 KiB):\n%s", srv.Logs.Tail(4096))
		}
		srv.Stop()
		cancel()
	})
	c, err := Dial(ctx, Options{Endpoint: srv.Endpoint, PresharedKey: srv.PresharedKey, Insecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, srv
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// exampleRegistryDir is examples/registry, found from this file so the
// tests run from any working directory.
func exampleRegistryDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "registry")
}

func loadExample(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.Load(exampleRegistryDir())
	if err != nil {
		t.Fatalf("load example registry: %v", err)
	}
	return reg
}
