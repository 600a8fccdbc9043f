// Package app wires ActionGate's services from one configuration: the
// registry watcher, the xDS server, ext_authz, ext_proc and the admin
// endpoint. cmd/actiongate, the quickstart and the e2e harness all start
// the gateway through it, so what the tests run is what operators run.
package app

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/ratelimit"
)

// Service names accepted in Config.Services.
const (
	ServiceXDS      = "xds"
	ServiceExtAuthz = "extauthz"
	ServiceExtProc  = "extproc"
	ServiceAdmin    = "admin"
	// ServiceMeta serves RFC 9728 protected-resource metadata to agents
	// (through Envoy, without a token).
	ServiceMeta = "meta"
)

// AllServices is the default: one process runs everything.
var AllServices = []string{ServiceXDS, ServiceExtAuthz, ServiceExtProc, ServiceMeta, ServiceAdmin}

// Config is the YAML file `actiongate serve --config` reads. Unknown
// fields are errors: a typo must not silently fall back to a default.
type Config struct {
	Services []string       `yaml:"services"`
	Registry RegistryConfig `yaml:"registry"`
	XDS      XDSConfig      `yaml:"xds"`
	ExtAuthz ListenConfig   `yaml:"extauthz"`
	ExtProc  ListenConfig   `yaml:"extproc"`
	Admin    ListenConfig   `yaml:"admin"`
	Meta     ListenConfig   `yaml:"meta"`
	Identity IdentityConfig `yaml:"identity"`
	SpiceDB  SpiceDBConfig  `yaml:"spicedb"`
	Policy   PolicyConfig   `yaml:"policy"`
	// RateLimits are shared token buckets in Redis; no redis, no limits.
	RateLimits RateLimitConfig `yaml:"rateLimits"`
	// Output is the policy ext_proc applies to tool output: redaction and
	// prompt-injection interception.
	Output OutputConfig `yaml:"output"`
	// Audit is where every decision and outcome is recorded.
	Audit AuditConfig `yaml:"audit"`
	// Credentials minted for upstream calls, and the third-party broker.
	Credentials CredentialsConfig `yaml:"credentials"`
	Broker      BrokerConfig      `yaml:"broker"`
	// Revocation carries emergency revocations to every replica.
	Revocation RevocationConfig `yaml:"revocation"`
	// AdminAuth protects the admin API's write endpoints.
	AdminAuth AdminAuthConfig `yaml:"adminAuth"`
	// Tracing exports OTLP spans of every tool call; off without endpoint.
	Tracing TracingConfig `yaml:"tracing"`
	Log     LogConfig     `yaml:"log"`
	// MaxRequestBytes bounds request bodies everywhere (Envoy buffers,
	// ext_authz parsing, ext_proc).
	MaxRequestBytes int `yaml:"maxRequestBytes"`
}

// RegistryConfig locates the registry directory.
type RegistryConfig struct {
	Dir          string        `yaml:"dir"`
	PollInterval time.Duration `yaml:"pollInterval"`
}

// XDSConfig configures the xDS server and what it tells data planes.
type XDSConfig struct {
	Listen string `yaml:"listen"`
	NodeID string `yaml:"nodeID"`
	// DataPlane describes the Envoy side: where its MCP listener binds and
	// how it reaches ext_authz and ext_proc (empty: our own listen
	// addresses, right when Envoy runs beside us).
	DataPlane DataPlaneConfig `yaml:"dataPlane"`
}

// DataPlaneConfig is what the generated Envoy configuration points at.
type DataPlaneConfig struct {
	ListenAddress   string `yaml:"listenAddress"`
	ListenPort      uint32 `yaml:"listenPort"`
	ExtAuthzAddress string `yaml:"extAuthzAddress"`
	ExtProcAddress  string `yaml:"extProcAddress"`
	MetaAddress     string `yaml:"metaAddress"`
}

// IdentityConfig is how agents' tokens are verified and how the gateway
// presents itself to them.
type IdentityConfig struct {
	// PublicURL is the gateway as agents reach it; RFC 9728 resources and
	// WWW-Authenticate point there.
	PublicURL string `yaml:"publicURL"`
	// Issuers are the OpenID Providers whose tokens are accepted.
	Issuers []string `yaml:"issuers"`
	// Audiences: a token must name one of them in aud (no passthrough of
	// tokens meant for someone else).
	Audiences   []string `yaml:"audiences"`
	TenantClaim string   `yaml:"tenantClaim"`
	TaskClaim   string   `yaml:"taskClaim"`
	GroupsClaim string   `yaml:"groupsClaim"`
	// ClockSkew tolerated on exp/nbf/iat (default 30s).
	ClockSkew time.Duration `yaml:"clockSkew"`
}

// SpiceDBConfig locates the SpiceDB the authorization checks go to.
type SpiceDBConfig struct {
	Endpoint string `yaml:"endpoint"`
	// PresharedKeyEnv names the environment variable holding the key
	// (default ACTIONGATE_SPICEDB_KEY): keys stay out of config files.
	PresharedKeyEnv string `yaml:"presharedKeyEnv"`
	// PresharedKey is set by programs (the quickstart), never from YAML.
	PresharedKey string `yaml:"-"`
	// Insecure: plaintext gRPC, refused unless the endpoint is loopback.
	Insecure bool   `yaml:"insecure"`
	CAFile   string `yaml:"caFile"`
	// SyncRelationships: this process writes the registry's relationships
	// (one writer per deployment; other replicas only check).
	SyncRelationships bool `yaml:"syncRelationships"`
}

// RateLimitConfig: per-minute buckets per scope, and per-tool overrides
// keyed "<server>/<tool>". failOpen lets calls through when Redis is down
// (default: they are denied).
type RateLimitConfig struct {
	Redis    string                    `yaml:"redis"`
	FailOpen bool                      `yaml:"failOpen"`
	Tenant   ratelimit.Rate            `yaml:"tenant"`
	User     ratelimit.Rate            `yaml:"user"`
	Agent    ratelimit.Rate            `yaml:"agent"`
	Server   ratelimit.Rate            `yaml:"server"`
	Tool     ratelimit.Rate            `yaml:"tool"`
	Tools    map[string]ratelimit.Rate `yaml:"tools"`
}

// PolicyConfig selects the OPA bundle; an empty Dir is the shipped default.
type PolicyConfig struct {
	Dir          string        `yaml:"dir"`
	PollInterval time.Duration `yaml:"pollInterval"`
}

// ListenConfig is a service's listen address (host:port; port 0 picks one).
type ListenConfig struct {
	Listen string `yaml:"listen"`
}

// LogConfig selects the log level and format (text or json).
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the configuration of a single-host deployment on
// loopback, the ports the shipped Envoy bootstrap expects.
func Default() Config {
	return Config{
		Services: slices.Clone(AllServices),
		Registry: RegistryConfig{Dir: "examples/registry", PollInterval: 2 * time.Second},
		XDS: XDSConfig{Listen: "127.0.0.1:18000", NodeID: "actiongate-gateway",
			DataPlane: DataPlaneConfig{ListenAddress: "127.0.0.1", ListenPort: 10000}},
		ExtAuthz: ListenConfig{Listen: "127.0.0.1:18001"},
		ExtProc:  ListenConfig{Listen: "127.0.0.1:18002"},
		Admin:    ListenConfig{Listen: "127.0.0.1:9901"},
		Meta:     ListenConfig{Listen: "127.0.0.1:18003"},
		SpiceDB: SpiceDBConfig{Endpoint: "127.0.0.1:50051", PresharedKeyEnv: "ACTIONGATE_SPICEDB_KEY", Insecure: true,
			SyncRelationships: true},
		Policy: PolicyConfig{PollInterval: 2 * time.Second},
		Identity: IdentityConfig{PublicURL: "http://127.0.0.1:10000", Issuers: []string{"http://127.0.0.1:9400"},
			Audiences: []string{"actiongate"}, TenantClaim: "tenant", TaskClaim: "task", GroupsClaim: "groups"},
		Output:      DefaultOutput(),
		Credentials: CredentialsConfig{Issuer: "http://127.0.0.1:9901", Lifetime: 5 * time.Minute},
		AdminAuth:   AdminAuthConfig{TokenEnv: "ACTIONGATE_ADMIN_TOKEN"},
		Audit: AuditConfig{Topic: audit.DefaultTopic, CheckpointTopic: audit.DefaultCheckpointTopic,
			CheckpointInterval: 5 * time.Second},
		Log:             LogConfig{Level: "info", Format: "text"},
		MaxRequestBytes: 1 << 20,
	}
}

// LoadConfig reads a YAML file over the defaults and validates it.
func LoadConfig(path string) (Config, error) {
	cfg, err := DecodeConfig(path)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// DecodeConfig reads a YAML file over the defaults without validating it,
// for callers that change it further (command-line flags) first.
func DecodeConfig(path string) (Config, error) {
	cfg := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate reports configuration errors before anything starts.
func (c Config) Validate() error {
	var problems []string
	if len(c.Services) == 0 {
		problems = append(problems, "services: at least one of "+strings.Join(AllServices, ", "))
	}
	for _, s := range c.Services {
		if !slices.Contains(AllServices, s) {
			problems = append(problems, fmt.Sprintf("services: unknown service %q (known: %s)", s, strings.Join(AllServices, ", ")))
		}
	}
	if c.Runs(ServiceXDS) || c.Runs(ServiceExtAuthz) {
		if c.Registry.Dir == "" {
			problems = append(problems, "registry.dir: required by xds and extauthz")
		}
	}
	if c.Runs(ServiceExtAuthz) {
		if len(c.Identity.Issuers) == 0 || len(c.Identity.Audiences) == 0 {
			problems = append(problems, "identity: extauthz needs at least one issuer and one audience")
		}
		if c.SpiceDB.Endpoint == "" {
			problems = append(problems, "spicedb.endpoint: required by extauthz")
		}
	}
	if c.Runs(ServiceExtAuthz) || c.Runs(ServiceExtProc) {
		problems = append(problems, c.Audit.problems()...)
		if !c.Revocation.Disabled && len(c.Revocation.brokers(c.Audit)) == 0 {
			problems = append(problems, "revocation.brokers: required (defaults to audit.brokers), or revocation.disabled: true")
		}
	}
	if c.Runs(ServiceExtProc) {
		problems = append(problems, c.Credentials.problems()...)
		if _, err := c.Output.guard(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if c.MaxRequestBytes <= 0 {
		problems = append(problems, "maxRequestBytes: must be positive")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		problems = append(problems, fmt.Sprintf("log.format: %q is not text or json", c.Log.Format))
	}
	if len(problems) > 0 {
		return fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Runs reports whether the service is enabled.
func (c Config) Runs(service string) bool { return slices.Contains(c.Services, service) }
