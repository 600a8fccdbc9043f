// Package stack starts a whole ActionGate deployment on one machine, from
// real parts: SpiceDB, a Kafka-protocol broker, the gateway services (via
// internal/app, as `actiongate serve` runs them) and the Envoy stand-in fed
// by our own xDS server. The quickstart and the e2e harness both use it, so
// the demo a newcomer runs is the system the tests check.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/actiongate/actiongate/envoy/standin"
	"github.com/actiongate/actiongate/internal/app"
	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/registry"
)

// Options select addresses and parts. Zero addresses mean 127.0.0.1 on a
// free port.
type Options struct {
	RegistryDir   string
	DataPlanePort int // the stand-in's MCP listener on 127.0.0.1
	XDSAddr       string
	ExtAuthzAddr  string
	ExtProcAddr   string
	AdminAddr     string
	MetaAddr      string
	KafkaPort     int
	IdPAddr       string // the dev OpenID Provider; 127.0.0.1:0 if empty
	// IdP adjusts the dev IdP's users and agents (derived from the registry).
	IdP func(*devidp.Options)
	// ExtraIssuers are further OpenID Providers the gateway trusts.
	ExtraIssuers []string
	// RateLimits, if set, are enforced with a redis-server the stack starts.
	RateLimits *app.RateLimitConfig
	// RegistryPoll is how often the registry directory is checked.
	RegistryPoll time.Duration

	// ChunkSplitter re-cuts streamed bodies in the stand-in (tests).
	ChunkSplitter func([]byte) [][]byte

	// AuditDir holds the audit spool and the instance's checkpoint key; a
	// temporary directory, removed on Close, if empty.
	AuditDir string
	// Audit adjusts the audit configuration (tests: spool bounds).
	Audit func(*app.AuditConfig)
	// TracingEndpoint, if set, receives OTLP/HTTP spans (plain http).
	TracingEndpoint string
	// Broker, when set, runs the credential broker with these providers
	// (connect flow on the admin API); the stack makes its keys.
	Broker []broker.Provider
	// SSF transmitters and the SCIM client whose deprovisioning events
	// revoke users.
	SSF  []app.SSFConfig
	SCIM *app.SCIMConfig
	// TokenLifetime of minted upstream tokens; 0: the default (5m).
	TokenLifetime time.Duration
	// KeyPropagation is the minted-token key ring's propagation delay
	// (tests rotate keys quickly); 0: the default.
	KeyPropagation time.Duration

	Logger   *slog.Logger
	Progress io.Writer // human progress lines for slow steps; nil discards
}

// Stack is a running deployment.
type Stack struct {
	App     *app.App
	Proxy   *standin.Proxy
	SpiceDB *devenv.SpiceDB
	Kafka   *devenv.Kafka
	// AuditInstance is the gateway's audit log id; AuditKey the public
	// checkpoint key auditors verify with (`audit verify --key`), written
	// beside the spool as <instance>.pub.
	AuditInstance string
	AuditKey      string
	AuditKeyFile  string
	// AuditStore is the content store `audit replay` reads.
	AuditStore string
	// AdminToken authorizes the admin API's write endpoints (revocation).
	AdminToken string
	// AdminURL is the admin API (JWKS, token exchange, connect flow).
	AdminURL string

	auditDir string
	IdP      *devidp.IdP

	// DataPlane is the stand-in's MCP listener, 127.0.0.1:<port>.
	DataPlane string

	stops []func()
}

// Start brings everything up and returns when a request through the data
// plane can be routed. On error, whatever started is stopped.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	s := &Stack{}
	if err := s.start(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context, o Options) error {
	if err := s.startDeps(ctx, o); err != nil {
		return err
	}
	port := o.DataPlanePort
	if port == 0 {
		p, err := devenv.FreePort()
		if err != nil {
			return err
		}
		port = p
	}
	if err := s.startIdP(ctx, o); err != nil {
		return err
	}
	cfg := app.Default()
	cfg.Registry.Dir = o.RegistryDir
	cfg.Identity.Issuers = append([]string{s.IdP.Issuer}, o.ExtraIssuers...)
	cfg.Identity.Audiences = []string{devidp.DefaultAudience}
	cfg.Identity.ClockSkew = time.Second // one clock: the IdP runs beside us
	cfg.SpiceDB.Endpoint, cfg.SpiceDB.PresharedKey = s.SpiceDB.Endpoint, s.SpiceDB.PresharedKey
	if o.RateLimits != nil {
		fmt.Fprintln(o.Progress, "starting redis-server for shared rate limits")
		r, err := devenv.StartRedis(ctx, 0)
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		s.stops = append(s.stops, r.Stop)
		cfg.RateLimits = *o.RateLimits
		cfg.RateLimits.Redis = r.Addr
	}
	if o.RegistryPoll > 0 {
		cfg.Registry.PollInterval = o.RegistryPoll
	}
	if err := s.auditConfig(o, &cfg.Audit); err != nil {
		return err
	}
	if o.AdminAddr == "" {
		// The admin API's URL is the minted tokens' issuer: know it first.
		p, err := devenv.FreePort()
		if err != nil {
			return err
		}
		o.AdminAddr = "127.0.0.1:" + strconv.Itoa(p)
	}
	cfg.Credentials.Issuer = "http://" + o.AdminAddr
	cfg.Credentials.KeysDir = filepath.Join(s.auditDir, "mint-keys")
	cfg.Credentials.PropagationDelay = o.KeyPropagation
	if o.TokenLifetime > 0 {
		cfg.Credentials.Lifetime = o.TokenLifetime
	}
	if o.Broker != nil {
		kek := make([]byte, 32)
		_, _ = rand.Read(kek)
		cfg.Broker = app.BrokerConfig{StoreDir: filepath.Join(s.auditDir, "broker"), PublicURL: "http://" + o.AdminAddr,
			Keys: "k1:" + base64.StdEncoding.EncodeToString(kek), ProviderList: o.Broker}
	}
	cfg.Revocation.SSF, cfg.Revocation.SCIM = o.SSF, o.SCIM
	cfg.Revocation.ReplicaID = "gateway-1"
	s.AdminURL = "http://" + o.AdminAddr
	s.AdminToken = randomToken()
	cfg.AdminAuth.Token = s.AdminToken
	if o.TracingEndpoint != "" {
		cfg.Tracing = app.TracingConfig{Endpoint: o.TracingEndpoint, Insecure: true}
	}
	cfg.XDS.Listen = orLoopback(o.XDSAddr)
	cfg.ExtAuthz.Listen = orLoopback(o.ExtAuthzAddr)
	cfg.ExtProc.Listen = orLoopback(o.ExtProcAddr)
	cfg.Admin.Listen = orLoopback(o.AdminAddr)
	cfg.Meta.Listen = orLoopback(o.MetaAddr)
	cfg.Identity.PublicURL = "http://127.0.0.1:" + strconv.Itoa(port)
	cfg.XDS.DataPlane.ListenPort = uint32(port)
	fmt.Fprintln(o.Progress, "starting ActionGate services (xds, extauthz, extproc, meta, admin)")
	a, err := app.Start(ctx, cfg, o.Logger.With("part", "actiongate"))
	if err != nil {
		return err
	}
	s.App = a
	s.stops = append(s.stops, a.Close)
	return s.startProxy(ctx, o, cfg.XDS.NodeID, port)
}

func (s *Stack) startDeps(ctx context.Context, o Options) error {
	bin, err := devenv.EnsureSpiceDB(ctx, o.Progress)
	if err != nil {
		return fmt.Errorf("SpiceDB: %w", err)
	}
	fmt.Fprintln(o.Progress, "starting SpiceDB (in-memory datastore)")
	sdb, err := devenv.StartSpiceDB(ctx, devenv.SpiceDBOptions{Binary: bin})
	if err != nil {
		return fmt.Errorf("SpiceDB: %w", err)
	}
	s.SpiceDB = sdb
	s.stops = append(s.stops, sdb.Stop)
	fmt.Fprintln(o.Progress, "starting the Kafka-protocol broker (kfake)")
	k, err := devenv.StartKafka(ctx, devenv.KafkaOptions{Port: o.KafkaPort,
		Topics: []string{audit.DefaultTopic, audit.DefaultCheckpointTopic}})
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	s.Kafka = k
	s.stops = append(s.stops, k.Stop)
	return nil
}

// startIdP runs the dev OpenID Provider with a user for every person the
// registry names and an OAuth client for every agent.
func (s *Stack) startIdP(ctx context.Context, o Options) error {
	reg, err := registry.Load(o.RegistryDir)
	if err != nil {
		return err
	}
	opts := devidp.QuickstartOptions(reg)
	opts.Issuer, opts.Addr = "", orLoopback(o.IdPAddr)
	opts.Logger = o.Logger.With("part", "devidp")
	if o.IdP != nil {
		o.IdP(&opts)
	}
	fmt.Fprintln(o.Progress, "starting the development OpenID Provider")
	idp, err := devidp.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("dev IdP: %w", err)
	}
	s.IdP = idp
	s.stops = append(s.stops, idp.Stop)
	return nil
}

// Token returns a delegated access token for user acting through agent,
// from the dev IdP, with the agent's dev secret.
func (s *Stack) Token(ctx context.Context, user, agent, tenant string) (string, error) {
	return devidp.Token(ctx, s.IdP.Issuer, user, agent, devidp.DevSecret(agent), tenant)
}

func (s *Stack) startProxy(ctx context.Context, o Options, nodeID string, port int) error {
	fmt.Fprintln(o.Progress, "starting the Envoy stand-in (test/quickstart data plane, not a production proxy)")
	p := standin.New(standin.Options{
		XDSAddress: s.App.Addr(app.ServiceXDS), NodeID: nodeID, NodeCluster: "actiongate",
		Logger: o.Logger.With("part", "standin"), ChunkSplitter: o.ChunkSplitter,
	})
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	s.stops = append(s.stops, func() { cancel(); <-done })
	s.Proxy = p
	select {
	case <-p.Ready():
	case err := <-done:
		return fmt.Errorf("stand-in stopped: %w", err)
	case <-time.After(30 * time.Second):
		return errors.New("stand-in: no listener within 30s (check the xDS server logs)")
	case <-ctx.Done():
		return ctx.Err()
	}
	s.DataPlane = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return devenv.WaitTCP(ctx, s.DataPlane)
}

// MCPURL is the gateway URL of a registered server's MCP endpoint.
func (s *Stack) MCPURL(server string) string {
	return "http://" + s.DataPlane + "/mcp/" + server
}

// Close stops everything, last started first.
func (s *Stack) Close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// auditConfig points the gateway's audit at the stack's broker, with a
// spool and a checkpoint key that survive restarts when AuditDir is set
// (the quickstart) and a fresh temporary pair otherwise.
func (s *Stack) auditConfig(o Options, c *app.AuditConfig) error {
	dir := o.AuditDir
	if dir == "" {
		d, err := os.MkdirTemp("", "actiongate-audit-")
		if err != nil {
			return err
		}
		s.stops = append(s.stops, func() { _ = os.RemoveAll(d) })
		dir = d
	}
	s.auditDir = dir
	const instance = "gateway-1"
	keyFile := filepath.Join(dir, instance+".key")
	pubFile := filepath.Join(dir, instance+".pub")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		skey, vkey, err := audit.GenerateKey(audit.Origin(instance))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(pubFile, []byte(vkey+"\n"), 0o644); err != nil {
			return err
		}
	}
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	c.SpoolDir, c.InstanceID, c.SigningKeyFile = filepath.Join(dir, "spool"), instance, keyFile
	c.StoreDir = filepath.Join(dir, "store")
	s.AuditStore = c.StoreDir
	c.Brokers = s.Kafka.Brokers
	c.CheckpointInterval = time.Second
	if o.Audit != nil {
		o.Audit(c)
	}
	s.AuditInstance, s.AuditKey, s.AuditKeyFile = instance, strings.TrimSpace(string(pub)), pubFile
	return nil
}

func orLoopback(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
