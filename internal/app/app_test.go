package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/registry"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(*testing.T, Config)
	}{
		{"defaults kept for unset fields", "services: [extproc]\naudit: {disabled: true}\ncredentials: {disabled: true}\nrevocation: {disabled: true}\n", "", func(t *testing.T, c Config) {
			if !c.Runs(ServiceExtProc) || c.Runs(ServiceXDS) || c.ExtProc.Listen != "127.0.0.1:18002" {
				t.Errorf("got %+v", c)
			}
		}},
		{"durations parse", "registry: {dir: r, pollInterval: 500ms}\naudit: {disabled: true}\ncredentials: {disabled: true}\nrevocation: {disabled: true}\n", "", func(t *testing.T, c Config) {
			if c.Registry.PollInterval.Milliseconds() != 500 {
				t.Errorf("poll interval %v", c.Registry.PollInterval)
			}
		}},
		{"unknown field", "registry: {dirr: r}\n", "field dirr not found", nil},
		{"unknown service", "services: [xds, firewall]\n", `unknown service "firewall"`, nil},
		{"no registry for extauthz", "services: [extauthz]\nregistry: {dir: \"\"}\n", "registry.dir", nil},
		{"bad log format", "log: {format: xml}\n", "log.format", nil},
		{"audit needs a spool", "services: [extproc]\n", "audit.spoolDir: required", nil},
		{"minting needs keys", "services: [extproc]\naudit: {disabled: true}\n", "credentials.keysDir: required", nil},
		{"checkpoints need a key", "services: [extproc]\naudit: {spoolDir: s, brokers: [k:9092]}\n", "audit.signingKeyFile", nil},
		{"audit not needed by xds alone", "services: [xds]\nregistry: {dir: r}\n", "", func(t *testing.T, c Config) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "actiongate.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

// TestStart_AllServices starts every service on free ports from the example
// registry and checks what an operator's probes see.
func TestStart_AllServices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Default()
	cfg.Registry.Dir = filepath.Join("..", "..", "examples", "registry")
	// extauthz needs its real collaborators: an OpenID Provider to discover
	// and SpiceDB to sync the registry into.
	bin, err := devenv.FindSpiceDB()
	devenv.RequireDep(t, "SpiceDB", err)
	sdb, err := devenv.StartSpiceDB(ctx, devenv.SpiceDBOptions{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Stop()
	reg, err := registry.Load(cfg.Registry.Dir)
	if err != nil {
		t.Fatal(err)
	}
	idpOpts := devidp.QuickstartOptions(reg)
	idpOpts.Issuer, idpOpts.Addr = "", "127.0.0.1:0"
	idp, err := devidp.Start(ctx, idpOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Stop()
	cfg.Identity.Issuers = []string{idp.Issuer}
	cfg.SpiceDB.Endpoint, cfg.SpiceDB.PresharedKey = sdb.Endpoint, sdb.PresharedKey
	cfg.XDS.Listen, cfg.ExtAuthz.Listen, cfg.ExtProc.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Meta.Listen = "127.0.0.1:0"
	k, err := devenv.StartKafka(ctx, devenv.KafkaOptions{Topics: []string{audit.DefaultTopic, audit.DefaultCheckpointTopic}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	skey, _, err := audit.GenerateKey(audit.Origin("app-test"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Audit.SpoolDir, cfg.Audit.InstanceID, cfg.Audit.SigningKey, cfg.Audit.Brokers = t.TempDir(), "app-test", skey, k.Brokers
	cfg.Credentials.KeysDir = t.TempDir()
	a, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, svc := range []string{ServiceXDS, ServiceExtAuthz, ServiceExtProc} {
		conn, err := grpc.NewClient(a.Addr(svc), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		_ = conn.Close()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health: %v %v", svc, resp, err)
		}
	}
	for path, want := range map[string]string{
		"/readyz":                "ready",
		"/metrics":               "actiongate_registry_reloads_total",
		"/registry":              `"id": "ehr"`,
		"/.well-known/jwks.json": `"kty":"EC"`,
	} {
		resp, err := http.Get("http://" + a.Addr(ServiceAdmin) + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body does not contain %q", path, resp.StatusCode, want)
		}
	}
	if a.XDS.Current() == nil || len(a.XDS.Current().Clusters) != 6 {
		t.Errorf("xds did not publish the example registry's 3 upstreams + ext_authz, ext_proc and metadata")
	}
	resp, err := http.Get("http://" + a.Addr(ServiceMeta) + "/.well-known/oauth-protected-resource/mcp/ehr")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"resource":"http://127.0.0.1:10000/mcp/ehr"`) {
		t.Errorf("protected-resource metadata: %d %s", resp.StatusCode, b)
	}
}

func TestStart_InvalidRegistryFails(t *testing.T) {
	cfg := Default()
	cfg.Audit.Disabled, cfg.Credentials.Disabled = true, true
	cfg.Services = []string{ServiceXDS, ServiceExtProc, ServiceMeta, ServiceAdmin}
	cfg.Registry.Dir = t.TempDir() // no documents
	cfg.XDS.Listen, cfg.ExtAuthz.Listen, cfg.ExtProc.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Meta.Listen = "127.0.0.1:0"
	if _, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("starting with an empty registry must fail, not serve an empty gateway")
	}
}

// TestKubernetesConfigIsValid: the config shipped in the Kubernetes
// manifest decodes strictly and validates once the per-pod flags are set.
func TestKubernetesConfigIsValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "actiongate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "  actiongate.yaml: |\n")
	if i < 0 {
		t.Fatal("no actiongate.yaml in the manifest")
	}
	var body strings.Builder
	for _, line := range strings.Split(string(b[i:]), "\n")[1:] {
		if !strings.HasPrefix(line, "    ") && line != "" {
			break
		}
		body.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	path := filepath.Join(t.TempDir(), "actiongate.yaml")
	if err := os.WriteFile(path, []byte(body.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := DecodeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "audit.signingKeyFile") {
		t.Fatalf("without the per-pod key flag: %v", err)
	}
	cfg.Audit.SigningKeyFile, cfg.Audit.InstanceID = "/etc/actiongate/audit-keys/actiongate-0.key", "actiongate-0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Audit.SpoolDir == "" || len(cfg.Audit.Brokers) != 3 {
		t.Fatalf("audit %+v", cfg.Audit)
	}
}

// TestExampleConfigIsValid: the single-host config the README points at
// decodes strictly and validates.
func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "..", "examples", "actiongate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audit.Disabled || cfg.Credentials.Disabled || cfg.Revocation.Disabled || !cfg.Runs(ServiceExtProc) {
		t.Fatalf("the example turns off what a gateway needs: %+v", cfg)
	}
}
