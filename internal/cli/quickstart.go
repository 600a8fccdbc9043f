package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/actiongate/actiongate/internal/demo"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/internal/stack"
)

// demoModes: ehr answers JSON and needs no session, so a pasted curl works;
// trading streams SSE; mail answers JSON.
var demoModes = map[string]demo.Mode{
	"ehr":     demo.ModeJSON | demo.ModeStateless,
	"trading": demo.ModeSSE,
	"mail":    demo.ModeJSON | demo.ModeStateless,
}

// Quickstart runs a complete gateway with the demo MCP servers of the
// example registry until interrupted.
func Quickstart(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regDir := fs.String("registry", "examples/registry", "registry directory (edits are picked up live)")
	port := fs.Int("listen-port", 10000, "data plane port on 127.0.0.1 where agents send MCP requests")
	logLevel := fs.String("log-level", "warn", "log level of the services (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	reg, err := registry.Load(*regDir)
	if err != nil {
		return fmt.Errorf("%w\n(run the quickstart from the repository root, or pass --registry DIR)", err)
	}
	stopDemos, err := startDemos(reg, stdout)
	if err != nil {
		return err
	}
	defer stopDemos()
	start := time.Now()
	st, err := stack.Start(ctx, stack.Options{
		RegistryDir: *regDir, DataPlanePort: *port,
		XDSAddr: "127.0.0.1:18000", ExtAuthzAddr: "127.0.0.1:18001", ExtProcAddr: "127.0.0.1:18002",
		AdminAddr: "127.0.0.1:9901", MetaAddr: "127.0.0.1:18003", KafkaPort: 19092, IdPAddr: "127.0.0.1:9400",
		Logger: log, Progress: prefixed(stdout, "  … "),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	// The admin token authorizes revocations: `actiongate revoke` and
	// `actiongate drill offboard` read it from this file by default.
	tokFile := quickstartTokenFile()
	if err := os.MkdirAll(filepath.Dir(tokFile), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tokFile, []byte(st.AdminToken+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(tokFile)
	printReady(stdout, st, reg, time.Since(start))
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nstopping")
		return nil
	case err := <-st.App.Err():
		return err
	}
}

// startDemos serves each demo server the registry names at its registered
// upstream address.
func startDemos(reg *registry.Registry, stdout io.Writer) (func(), error) {
	var running []*demo.Running
	stop := func() {
		for _, r := range running {
			_ = r.Close()
		}
	}
	for _, id := range demo.IDs() {
		s, ok := reg.Server(id)
		if !ok {
			continue
		}
		u, err := url.Parse(s.Upstream)
		if err != nil {
			stop()
			return nil, err
		}
		r, err := demo.Start(u.Host, id, demoModes[id])
		if err != nil {
			stop()
			return nil, fmt.Errorf("demo MCP server %s on %s: %w (is another quickstart running?)", id, u.Host, err)
		}
		running = append(running, r)
		fmt.Fprintf(stdout, "  … demo MCP server %-8s %s (%s)\n", id, r.URL, demoModes[id])
	}
	if len(running) == 0 {
		return nil, errors.New("the registry names none of the demo servers (ehr, trading, mail)")
	}
	return stop, nil
}

func printReady(w io.Writer, st *stack.Stack, reg *registry.Registry, took time.Duration) {
	fmt.Fprintf(w, `
ActionGate quickstart is ready (%s).

  MCP endpoints (through the Envoy stand-in, one per registered server):
`, took.Round(time.Millisecond))
	for _, s := range reg.Servers {
		fmt.Fprintf(w, "    %-8s %s\n", s.ID, st.MCPURL(s.ID))
	}
	fmt.Fprintf(w, `
  Registry:  version %s (edit the files; changes apply without restart)
  Identity:  dev OpenID Provider %s (DEV ONLY: its secrets are public)
  Admin:     http://%s/metrics  /readyz  /registry
  xDS (ADS): %s   SpiceDB: %s   Kafka: %s

  Get a token for dr-alice acting through the note-summarizer agent, in another terminal:

    TOKEN=$(go run ./cmd/actiongate dev token --user dr-alice --agent note-summarizer)

  An allowed call (the physician's agent reads a chart):

    curl -s %s -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -H 'mcp-protocol-version: 2025-06-18' \
      -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_chart","arguments":{"patient_id":"p-1001"}}}'

  A denied call (a tier-1 agent writing to the record needs a human approval first):

    curl -s %[7]s -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -H 'mcp-protocol-version: 2025-06-18' \
      -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"write_summary","arguments":{"patient_id":"p-1001","summary":"stable"}}}'

  Every decision and outcome is audited to Kafka topic actiongate.audit (signed checkpoints
  in actiongate.audit.checkpoints). Verify the log with the instance's public key:

    go run ./cmd/actiongate audit verify --brokers %[6]s --key %[8]s

  Offboarding fire drill (traffic as several users, revoke one, measure enforcement):

    go run ./cmd/actiongate drill offboard --user trader-bob

  The stand-in is a test and demo data plane, not a production proxy; see README.md
  for running with a real Envoy. Press Ctrl-C to stop.
`, reg.Version, st.IdP.Issuer, st.App.Addr("admin"), st.App.Addr("xds"), st.SpiceDB.Endpoint, st.Kafka.Brokers[0], st.MCPURL("ehr"), st.AuditKeyFile)
}

// prefixed writes each progress line with a prefix.
func prefixed(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: w, prefix: prefix}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "%s%s", p.prefix, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// quickstartTokenFile is where a running quickstart keeps its admin token.
func quickstartTokenFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "actiongate", "quickstart", "admin-token")
}
