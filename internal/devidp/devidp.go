// Package devidp runs a real OpenID Provider (zitadel/oidc's op) on
// loopback for the quickstart and the tests: discovery, JWKS and a token
// endpoint speaking client credentials, the JWT-bearer grant (RFC 7523) and
// token exchange (RFC 8693). Agents get delegated access tokens for users —
// sub = user, act.sub = agent, aud = the gateway — only through that token
// endpoint; there is no shortcut that mints tokens in process.
//
// It also plays an upstream API provider such as GitHub for the credential
// broker: Apps connect users with the authorization code flow and PKCE
// (auto-approved for the login_hint user: DEV ONLY), refresh and revoke
// their tokens, and the upstream tool server calls APIUserPath with them.
//
// Everything is in memory and every credential is a documented dev value:
// it is a development and test tool, never an identity provider for real
// users.
package devidp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// DefaultAudience is the gateway's resource identifier in dev tokens.
const DefaultAudience = "actiongate"

// DefaultIssuer is where the quickstart runs the dev IdP.
const DefaultIssuer = "http://127.0.0.1:9400"

// User is a dev user (the subject of delegated tokens).
type User struct {
	Subject string
	// Tenant goes into the token's tenant claim unless the request picks
	// another of Tenants.
	Tenant string
	// Tenants the user may additionally request (scope tenant:<id>).
	Tenants []string
	Groups  []string
}

// Agent is an OAuth client that acts for users.
type Agent struct {
	ClientID string
	// ClientSecret defaults to DevSecret(ClientID).
	ClientSecret string
}

// Options configure Start.
type Options struct {
	// Issuer defaults to http://<Addr>. It must be an http(s) URL whose
	// host is a loopback address.
	Issuer string
	// Addr to listen on; default: the Issuer's host:port, else
	// 127.0.0.1:0. Only loopback addresses are accepted.
	Addr   string
	Users  []User
	Agents []Agent
	// Apps are upstream-style OAuth clients (see App). DEV ONLY.
	Apps []App
	// Audience of exchanged tokens (default DefaultAudience).
	Audience string
	// AccessTokenTTL of every token issued (default 10m).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL of app refresh tokens (default 24h).
	RefreshTokenTTL time.Duration
	// KeyGrace is how long a rotated-out signing key stays in the JWKS
	// (default AccessTokenTTL + 1m, so tokens it signed keep verifying).
	KeyGrace time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// DevSecret is the fixed client secret of a dev agent: PUBLIC, dev only.
func DevSecret(agent string) string { return "dev-secret-" + agent }

// IdP is a running dev OpenID Provider.
type IdP struct {
	Issuer string
	Addr   string

	store    *storage
	srv      *http.Server
	done     chan struct{}
	stopOnce sync.Once
}

// Start listens on a loopback address and serves the OP until ctx ends or
// Stop is called. The listener is bound before Start returns, so the OP is
// ready at once.
func Start(ctx context.Context, opts Options) (*IdP, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("devidp: listen %s: %w", opts.Addr, err)
	}
	if opts.Issuer == "" {
		opts.Issuer = "http://" + ln.Addr().String()
	}
	store, err := newStorage(opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	handler, err := newHandler(opts, store)
	if err != nil {
		ln.Close()
		return nil, err
	}
	idp := &IdP{
		Issuer: opts.Issuer, Addr: ln.Addr().String(), store: store,
		srv:  &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(idp.done)
		if err := idp.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("devidp: serve", "error", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			idp.Stop()
		case <-idp.done:
		}
	}()
	opts.Logger.Info("devidp: OpenID Provider ready (dev only; public credentials)", "issuer", idp.Issuer,
		"users", len(opts.Users), "agents", len(opts.Agents), "apps", len(opts.Apps))
	return idp, nil
}

func newHandler(opts Options, store *storage) (http.Handler, error) {
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, err
	}
	scopes := []string{"openid", "offline_access"}
	for _, id := range store.appIDs {
		for _, sc := range store.appClients[id].app.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       scopes,
		SupportedClaims: []string{
			"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "act", "tenant", "groups", "scope",
		},
	}, store, op.StaticIssuer(opts.Issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DirectoryPath, store.serveDirectory)
	mux.HandleFunc("GET "+ApprovePath, store.serveApprove)
	mux.Handle("GET "+APIUserPath, apiUser{store: store, crypto: provider.Crypto()})
	mux.Handle("/", provider)
	return mux, nil
}

// Stop shuts the OP down and waits for it; it is safe to call twice.
func (i *IdP) Stop() {
	i.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := i.srv.Shutdown(ctx); err != nil {
			i.srv.Close()
		}
		<-i.done
	})
}

// RotateKey makes a new signing key current; the previous one stays in the
// JWKS for KeyGrace. It returns the new key id.
func (i *IdP) RotateKey() (string, error) {
	return i.store.keys.rotate(time.Now())
}

func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" && o.Issuer != "" {
		u, err := url.Parse(o.Issuer)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return o, fmt.Errorf("devidp: issuer %q is not an http(s) URL", o.Issuer)
		}
		o.Addr = u.Host
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if err := requireLoopback(o.Addr); err != nil {
		return o, err
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = 10 * time.Minute
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 24 * time.Hour
	}
	if o.KeyGrace <= 0 {
		o.KeyGrace = o.AccessTokenTTL + time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// requireLoopback refuses to serve public dev credentials beyond this host.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devidp: address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("devidp: address %q is not loopback; the dev IdP's credentials are public, so it only listens on 127.0.0.1/::1", addr)
}
