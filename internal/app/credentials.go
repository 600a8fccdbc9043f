package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/credinject"
	"github.com/actiongate/actiongate/internal/mint"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// CredentialsConfig: the tokens ext_proc mints for every upstream call
// (docs/credentials.md). On unless disabled: an upstream must never see
// the agent's own token, and without minting it sees none at all.
type CredentialsConfig struct {
	Disabled bool `yaml:"disabled"`
	// Issuer is the iss of minted tokens: the admin API's public URL,
	// where upstreams fetch /.well-known/jwks.json.
	Issuer string `yaml:"issuer"`
	// KeysDir holds the signing keys, shared by every replica (a volume or
	// a Secret); created with a first key when empty and writable.
	KeysDir          string        `yaml:"keysDir"`
	KeysReadOnly     bool          `yaml:"keysReadOnly"`
	Lifetime         time.Duration `yaml:"lifetime"`
	PropagationDelay time.Duration `yaml:"propagationDelay"`
	// ReloadInterval: how often keys written by another replica or an
	// operator are picked up (default 10s).
	ReloadInterval time.Duration `yaml:"reloadInterval"`
}

// BrokerConfig: per-user third-party credentials (docs/broker.md).
type BrokerConfig struct {
	// StoreDir holds the encrypted records; empty: no broker.
	StoreDir string `yaml:"storeDir"`
	// KeysEnv names the variable with the key-encryption keys
	// ("kid:base64,…", first current); default ACTIONGATE_BROKER_KEYS.
	KeysEnv string `yaml:"keysEnv"`
	// TicketKeyEnv names the variable with the connect-link HMAC key
	// (shared by replicas); empty: a random key (one replica only).
	TicketKeyEnv string `yaml:"ticketKeyEnv"`
	// PublicURL is where users' browsers reach the admin API's /connect.
	PublicURL string    `yaml:"publicURL"`
	Providers yaml.Node `yaml:"providers"`
	// Keys and ProviderList are for programs (the test harness), never
	// from YAML.
	Keys         string            `yaml:"-"`
	ProviderList []broker.Provider `yaml:"-"`
}

// AdminAuthConfig protects the admin API's write endpoints.
type AdminAuthConfig struct {
	// TokenEnv names the variable holding the bearer token that
	// /v1/revocations and /oauth2/introspect require. Unset: those
	// endpoints answer 503 (never open).
	TokenEnv string `yaml:"tokenEnv"`
	// Token is for programs (the quickstart), never from YAML.
	Token string `yaml:"-"`
}

func (c CredentialsConfig) problems() []string {
	if c.Disabled {
		return nil
	}
	var p []string
	if c.KeysDir == "" {
		p = append(p, "credentials.keysDir: required (or credentials.disabled: true, which forwards calls with no upstream credential)")
	}
	if c.Issuer == "" {
		p = append(p, "credentials.issuer: required: the admin API's public URL, where upstreams fetch the JWKS")
	}
	return p
}

// startCredentials builds the key ring, minter and broker ext_proc uses.
func (a *App) startCredentials(ctx context.Context) error {
	c := a.cfg.Credentials
	if c.Disabled {
		a.log.Warn("credential minting disabled: upstream requests carry no credential from the gateway")
		return nil
	}
	ring, err := mint.LoadKeyRing(c.KeysDir, mint.KeyRingOptions{PropagationDelay: c.PropagationDelay,
		ReadOnly: c.KeysReadOnly, Logger: a.log.With("component", "mint")})
	if err != nil {
		return fmt.Errorf("credentials.keysDir: %w", err)
	}
	interval := c.ReloadInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	a.goRun(func() error { ring.Watch(ctx, interval); return nil })
	m, err := mint.NewMinter(mint.MinterConfig{Issuer: c.Issuer, Keys: ring, DefaultLifetime: c.Lifetime,
		Revocations: a.revocations()})
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	a.keyRing, a.minter = ring, m
	inj := &credinject.Injector{Minter: m}
	if b, err := a.startBroker(); err != nil {
		return err
	} else if b != nil {
		inj.Broker = b
	}
	a.injector = inj
	return nil
}

func (a *App) startBroker() (*broker.Broker, error) {
	c := a.cfg.Broker
	if c.StoreDir == "" {
		return nil, nil
	}
	var ring *broker.KeyRing
	var err error
	if c.Keys != "" {
		ring, err = broker.ParseKeyRing(c.Keys)
	} else {
		ring, err = broker.KeyRingFromEnv(c.KeysEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("broker keys: %w", err)
	}
	store, err := broker.NewFileStore(c.StoreDir, ring)
	if err != nil {
		return nil, fmt.Errorf("broker.storeDir: %w", err)
	}
	providers := c.ProviderList
	if c.Providers.Kind != 0 {
		raw, err := yaml.Marshal(map[string]*yaml.Node{"providers": &c.Providers})
		if err != nil {
			return nil, err
		}
		if providers, err = broker.ParseProviders(raw, os.Getenv); err != nil {
			return nil, fmt.Errorf("broker.providers: %w", err)
		}
	}
	var ticketKey []byte
	if c.TicketKeyEnv != "" {
		if ticketKey = []byte(os.Getenv(c.TicketKeyEnv)); len(ticketKey) == 0 {
			return nil, fmt.Errorf("broker.ticketKeyEnv: %s is empty", c.TicketKeyEnv)
		}
	}
	b, err := broker.New(broker.Options{Store: store, Providers: providers, PublicURL: c.PublicURL,
		TicketKey: ticketKey, Logger: a.log.With("component", "broker")})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	a.broker = b
	return b, nil
}

// mountCredentials adds the credential endpoints to the admin API: the
// JWKS upstreams verify minted tokens with, RFC 8693 token exchange and
// RFC 7662 introspection (when this process verifies agent tokens), and
// the broker's connect flow.
func (a *App) mountCredentials(mux *http.ServeMux) error {
	if a.keyRing == nil {
		return nil
	}
	mux.Handle("GET "+mint.JWKSPath, a.keyRing.JWKSHandler())
	intro, err := mint.NewIntrospectionHandler(mint.IntrospectionConfig{Issuer: a.cfg.Credentials.Issuer, Keys: a.keyRing,
		Revocations: a.revocations(), Authenticate: a.requireAdmin, Logger: a.log.With("component", "introspection")})
	if err != nil {
		return err
	}
	mux.Handle("POST /oauth2/introspect", intro)
	if a.verifier != nil && a.Watcher != nil {
		ex, err := mint.NewExchangeHandler(mint.ExchangeConfig{Minter: a.minter, Authenticator: a.verifier,
			Authorizer: exchangeAuthorizer{a}, Targets: registryTargets{a.Watcher.Current},
			Lifetime: a.cfg.Credentials.Lifetime, Logger: a.log.With("component", "token-exchange")})
		if err != nil {
			return err
		}
		mux.Handle("POST /oauth2/token", ex)
	}
	if a.broker != nil {
		mux.Handle("GET /connect/", a.broker.Handler())
	}
	return nil
}

// requireAdmin admits a request bearing the admin token.
func (a *App) requireAdmin(r *http.Request) error {
	want := a.cfg.AdminAuth.Token
	if want == "" && a.cfg.AdminAuth.TokenEnv != "" {
		want = os.Getenv(a.cfg.AdminAuth.TokenEnv)
	}
	if want == "" {
		return errors.New("the admin API has no token configured")
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errors.New("admin token required")
	}
	return nil
}

// registryTargets: tokens can be exchanged for registered servers, named
// by id or by upstream URL.
type registryTargets struct{ reg func() *registry.Registry }

func (t registryTargets) Target(id string) (mint.Target, bool) {
	reg := t.reg()
	if reg == nil {
		return mint.Target{}, false
	}
	for _, s := range reg.Servers {
		if s.ID == id || s.Upstream == id {
			return mint.Target{Server: s.ID, Resource: s.Upstream}, true
		}
	}
	return mint.Target{}, false
}

// exchangeAuthorizer applies the registry and SpiceDB checks of a
// decision to an out-of-band token request.
type exchangeAuthorizer struct{ a *App }

func (e exchangeAuthorizer) Authorize(ctx context.Context, p principal.Principal, server, tool string) error {
	reg := e.a.Watcher.Current()
	agent, ok := reg.Agent(p.Agent)
	switch {
	case !ok:
		return fmt.Errorf("agent %q is not registered", p.Agent)
	case !slices.Contains(agent.Tenants, p.Tenant):
		return fmt.Errorf("agent %q may not act in tenant %q", p.Agent, p.Tenant)
	case !slices.Contains(agent.Users, p.User) && !slices.ContainsFunc(agent.Groups, func(g string) bool { return slices.Contains(p.Groups, g) }):
		return fmt.Errorf("agent %q is not approved for this user", p.Agent)
	case !agent.MayUse(server, tool):
		return fmt.Errorf("agent %q does not declare %s/%s", p.Agent, server, tool)
	}
	if e.a.authz == nil {
		return mint.ErrUnavailable
	}
	r, err := e.a.authz.CheckInvoke(ctx, p, server, tool)
	if err != nil {
		return fmt.Errorf("%w: %v", mint.ErrUnavailable, err)
	}
	if !r.Allowed {
		return errors.New("not permitted")
	}
	return nil
}

// revocations is what minting and introspection consult: the shared
// revocation state.
func (a *App) revocations() mint.RevocationList { return a.revState }

// KeyRing is the minted tokens' key ring (nil when minting is off), for
// operators' tooling and tests that rotate keys.
func (a *App) KeyRing() *mint.KeyRing { return a.keyRing }
