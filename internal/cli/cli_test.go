package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/devenv"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestMain_Dispatch(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "", "Usage: actiongate"},
		{[]string{"help"}, 0, "", "quickstart"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"version"}, 0, "actiongate dev", ""},
		{[]string{"registry", "validate", "../../examples/registry"}, 0, "is valid: version", ""},
		{[]string{"registry", "export", "../../examples/registry"}, 0, `"agents"`, ""},
		{[]string{"registry", "validate", "/nonexistent"}, 1, "", "actiongate registry:"},
		{[]string{"registry"}, 1, "", "usage: actiongate registry validate|export DIR"},
		{[]string{"serve", "--services", "xds,firewall"}, 1, "", `unknown service "firewall"`},
		{[]string{"serve", "--config", "/nonexistent.yaml"}, 1, "", "config:"},
		{[]string{"serve", "stray"}, 1, "", "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.out, tc.err)
			}
		})
	}
}

func TestServeConfig_FlagsOverrideFile(t *testing.T) {
	var errb bytes.Buffer
	cfg, err := serveConfig([]string{"--services", "extauthz", "--extauthz-listen", "127.0.0.1:0",
		"--registry", "../../examples/registry", "--data-plane-port", "10443", "--log-format", "json",
		"--audit-spool", t.TempDir(), "--audit-brokers", "127.0.0.1:9092", "--audit-key", "instance.key"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 1 || cfg.ExtAuthz.Listen != "127.0.0.1:0" || cfg.XDS.DataPlane.ListenPort != 10443 ||
		cfg.Log.Format != "json" || cfg.ExtProc.Listen != "127.0.0.1:18002" || cfg.Audit.SigningKeyFile != "instance.key" ||
		len(cfg.Audit.Brokers) != 1 {
		t.Errorf("config %+v", cfg)
	}
}

// TestServe_RunsUntilCancelled runs `serve` as the binary does and stops
// it by cancelling, as SIGTERM would.
func TestServe_RunsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	errb := devenv.NewLogs(1 << 20) // safe for concurrent use
	go func() {
		done <- Serve(ctx, []string{"--services", "xds,extproc,meta,admin", "--registry", "../../examples/registry", "--xds-listen", "127.0.0.1:0",
			// ext_authz runs elsewhere: xds points data planes at its address.
			"--extauthz-listen", "127.0.0.1:18001", "--extproc-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
			"--meta-listen", "127.0.0.1:0", "--audit-disabled", "--revocation-disabled", "--credentials-keys", t.TempDir(),
			"--log-level", "info"}, &bytes.Buffer{}, errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "service=admin") {
		select {
		case err := <-done:
			t.Fatalf("serve stopped before serving: %v\n%s", err, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within 10s:\n%s", errb.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, errb.String())
	}
}
