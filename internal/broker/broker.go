package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Options configure New.
type Options struct {
	Store     Store
	Providers []Provider
	// PublicURL is the gateway's external base URL as the user's browser
	// reaches it (https, or http on loopback), e.g. https://gw.example.com.
	// Connect links and the default redirect URL are built from it; without
	// it ConnectURL fails and ErrNotConnected carries no link.
	PublicURL string
	// ConnectPath is where Handler serves (default "/connect"):
	// GET {ConnectPath}/{provider}?ticket=… and GET {ConnectPath}/callback.
	ConnectPath string
	// TicketKey signs connect tickets (HMAC-SHA256, at least 32 bytes).
	// Replicas behind one PublicURL must share it. Empty: a random key,
	// good for one process only.
	TicketKey []byte
	// TicketTTL of a connect link (default 15m); StateTTL of a flow from
	// the redirect to the provider until its callback (default 10m).
	TicketTTL, StateTTL time.Duration
	// RefreshSkew: a token expiring within it is refreshed first (default 1m).
	RefreshSkew time.Duration
	// MaxPending bounds connect flows in progress (default 10000).
	MaxPending int
	// HTTPClient for token, refresh and revocation requests (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Broker keeps users' upstream OAuth credentials and hands them out just
// in time, refreshed. See docs/broker.md.
type Broker struct {
	opts      Options
	store     Store
	providers map[string]*provider
	names     []string
	ticketKey []byte
	log       *slog.Logger
	flight    singleflight.Group
	pending   *pendingFlows

	mu          sync.Mutex
	usedTickets map[string]time.Time // nonce → ticket expiry
	revokedAt   map[userKey]time.Time
}

type userKey struct{ tenant, user string }

type provider struct {
	Provider
	oauth *oauth2.Config
}

// Credential is what the gateway injects into one upstream request.
// String and LogValue redact the token.
type Credential struct {
	HeaderName, HeaderValue string
	ExpiresAt               time.Time // zero: the provider gave no expiry
	Token                   string
}

func (c Credential) String() string {
	return fmt.Sprintf("broker.Credential{HeaderName: %q, HeaderValue: [redacted], ExpiresAt: %s}", c.HeaderName, c.ExpiresAt.Format(time.RFC3339))
}

func (c Credential) GoString() string { return c.String() }

func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("header", c.HeaderName), slog.Time("expires_at", c.ExpiresAt))
}

// New validates the options and every provider.
func New(opts Options) (*Broker, error) {
	if opts.Store == nil {
		return nil, errors.New("broker: a Store is required")
	}
	opts = opts.withDefaults()
	if opts.PublicURL != "" {
		if err := checkURL(opts.PublicURL); err != nil {
			return nil, fmt.Errorf("broker: public URL: %w", err)
		}
	}
	if !strings.HasPrefix(opts.ConnectPath, "/") || strings.HasSuffix(opts.ConnectPath, "/") || strings.ContainsAny(opts.ConnectPath, "{}?#") {
		return nil, fmt.Errorf("broker: connect path %q: want /segment[/segment…], no trailing slash", opts.ConnectPath)
	}
	b := &Broker{
		opts: opts, store: opts.Store, providers: map[string]*provider{}, log: opts.Logger,
		pending: newPendingFlows(opts.MaxPending), usedTickets: map[string]time.Time{}, revokedAt: map[userKey]time.Time{},
		ticketKey: opts.TicketKey,
	}
	switch {
	case len(b.ticketKey) == 0:
		b.ticketKey = make([]byte, 32)
		_, _ = rand.Read(b.ticketKey) // crypto/rand.Read never returns an error (Go 1.24+)
	case len(b.ticketKey) < 32:
		return nil, errors.New("broker: ticket key must be at least 32 bytes")
	}
	defaultRedirect := ""
	if opts.PublicURL != "" {
		defaultRedirect = strings.TrimSuffix(opts.PublicURL, "/") + opts.ConnectPath + "/callback"
	}
	for _, p := range opts.Providers {
		p = p.withDefaults(defaultRedirect)
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := b.providers[p.Name]; dup {
			return nil, fmt.Errorf("broker: provider %q configured twice", p.Name)
		}
		b.providers[p.Name] = &provider{Provider: p, oauth: oauthConfig(p)}
		b.names = append(b.names, p.Name)
	}
	slices.Sort(b.names)
	return b, nil
}

func (o Options) withDefaults() Options {
	if o.ConnectPath == "" {
		o.ConnectPath = "/connect"
	}
	if o.TicketTTL <= 0 {
		o.TicketTTL = 15 * time.Minute
	}
	if o.StateTTL <= 0 {
		o.StateTTL = 10 * time.Minute
	}
	if o.RefreshSkew <= 0 {
		o.RefreshSkew = time.Minute
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 10000
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func oauthConfig(p Provider) *oauth2.Config {
	style := oauth2.AuthStyleAutoDetect
	switch p.AuthStyle {
	case "header":
		style = oauth2.AuthStyleInHeader
	case "params":
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: p.RedirectURL, Scopes: p.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, AuthStyle: style},
	}
}

// Providers lists the configured provider names, sorted.
func (b *Broker) Providers() []string { return slices.Clone(b.names) }

func (b *Broker) provider(name string) (*provider, error) {
	p, ok := b.providers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (configured: %s)", ErrUnknownProvider, name, strings.Join(b.names, ", "))
	}
	return p, nil
}

// Credential returns the header to inject for user's call to provider:
// the stored token, refreshed first when it expires within RefreshSkew.
// Concurrent calls for one (tenant, user, provider) share one refresh.
// Errors: ErrNotConnected (with the connect link) when there is nothing
// usable; ErrUnknownProvider; otherwise the call must be denied.
func (b *Broker) Credential(ctx context.Context, tenant, user, providerName string) (Credential, error) {
	p, err := b.provider(providerName)
	if err != nil {
		return Credential{}, err
	}
	k := Key{Tenant: tenant, User: user, Provider: providerName}
	if err := k.validate(); err != nil {
		return Credential{}, err
	}
	rec, err := b.store.Load(ctx, k)
	switch {
	case errors.Is(err, ErrNoRecord):
		return Credential{}, b.notConnected(k, "the user has not connected it yet")
	case err != nil:
		return Credential{}, err
	case !b.fresh(rec):
		if rec, err = b.refreshShared(ctx, p, k); err != nil {
			return Credential{}, err
		}
	}
	value, err := p.Inject.render(rec.AccessToken)
	if err != nil {
		return Credential{}, fmt.Errorf("%w (provider %q)", err, providerName)
	}
	return Credential{HeaderName: p.Inject.Header, HeaderValue: value, ExpiresAt: rec.Expiry, Token: rec.AccessToken}, nil
}

func (b *Broker) fresh(r Record) bool {
	return r.Expiry.IsZero() || b.opts.Now().Add(b.opts.RefreshSkew).Before(r.Expiry)
}

// refreshShared runs one refresh per slot however many callers want it.
// The refresh runs on its own deadline, not the first caller's: one
// caller giving up must not fail the others.
func (b *Broker) refreshShared(ctx context.Context, p *provider, k Key) (Record, error) {
	ch := b.flight.DoChan(hashHex(k.Tenant, k.User, k.Provider), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return b.refresh(rctx, p, k)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Record{}, res.Err
		}
		return res.Val.(Record), nil
	case <-ctx.Done():
		return Record{}, ctx.Err()
	}
}

// refresh reloads the record (a refresh that just finished may have
// saved a fresh one), refreshes it with the provider and saves it.
func (b *Broker) refresh(ctx context.Context, p *provider, k Key) (Record, error) {
	started := b.opts.Now()
	rec, err := b.store.Load(ctx, k)
	switch {
	case errors.Is(err, ErrNoRecord):
		return Record{}, b.notConnected(k, "the user has not connected it yet")
	case err != nil:
		return Record{}, err
	case b.fresh(rec):
		return rec, nil
	}
	stillValid := started.Before(rec.Expiry)
	if rec.RefreshToken == "" {
		if stillValid {
			return rec, nil
		}
		_ = b.store.Delete(ctx, k)
		return Record{}, b.notConnected(k, "the stored token expired and the provider gave no refresh token")
	}
	tok, err := p.oauth.TokenSource(b.oauthContext(ctx), &oauth2.Token{RefreshToken: rec.RefreshToken}).Token()
	if err != nil {
		return b.refreshFailed(ctx, k, rec, stillValid, err)
	}
	next := b.recordFrom(p, tok, rec)
	next.ConnectedAt, next.RefreshedAt = rec.ConnectedAt, b.opts.Now()
	if b.revokedSince(k, started) {
		_ = b.revokeTokens(ctx, p, next)
		return Record{}, b.notConnected(k, "the user's credentials were revoked")
	}
	if err := b.store.Save(ctx, k, next); err != nil {
		return Record{}, fmt.Errorf("broker: refreshed %s but could not save it: %w", k, err)
	}
	b.log.Info("broker: token refreshed", "tenant", k.Tenant, "user", k.User, "provider", k.Provider, "expires", next.Expiry)
	return next, nil
}

// refreshFailed decides what a failed refresh means. invalid_grant: the
// grant is gone (revoked, expired, or rotated by a refresh elsewhere); if
// the store now holds another refresh token, someone else refreshed and
// that record is the answer, else the record is deleted and the user must
// reconnect. Any other failure keeps the record; a token not yet expired
// is still served.
func (b *Broker) refreshFailed(ctx context.Context, k Key, rec Record, stillValid bool, err error) (Record, error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		if cur, lerr := b.store.Load(ctx, k); lerr == nil && cur.RefreshToken != rec.RefreshToken && b.fresh(cur) {
			return cur, nil
		}
		if derr := b.store.Delete(ctx, k); derr != nil {
			return Record{}, derr
		}
		b.log.Warn("broker: provider refused the refresh token; record deleted", "tenant", k.Tenant, "user", k.User, "provider", k.Provider)
		return Record{}, b.notConnected(k, "the provider no longer accepts the stored grant (revoked or expired); reconnect")
	}
	safe := safeOAuthError(err)
	if stillValid {
		b.log.Warn("broker: refresh failed; serving the unexpired token", "provider", k.Provider, "error", safe)
		return rec, nil
	}
	return Record{}, fmt.Errorf("broker: refresh %s: %w", k, safe)
}

// safeOAuthError keeps the OAuth error code and HTTP status of a token
// endpoint failure and drops the response body, which is the provider's
// to fill and so could carry anything.
func safeOAuthError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	return fmt.Errorf("token endpoint answered %s (HTTP %d)", oauthCode(re.ErrorCode), status)
}

// oauthCode passes an RFC 6749 error code through only if it looks like one.
func oauthCode(code string) string {
	if code == "" {
		return "no error code"
	}
	if len(code) > 64 {
		return "an unrecognised error code"
	}
	for _, c := range code {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return "an unrecognised error code"
		}
	}
	return code
}

func (b *Broker) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, b.opts.HTTPClient)
}

// recordFrom turns a token response into a record. The expiry is mapped
// onto the broker's clock: "expires_in" counts from now, whatever Now says.
func (b *Broker) recordFrom(p *provider, tok *oauth2.Token, prev Record) Record {
	r := Record{
		Provider: p.Name, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
		Scopes: prev.Scopes,
	}
	if r.RefreshToken == "" {
		r.RefreshToken = prev.RefreshToken
	}
	if !tok.Expiry.IsZero() {
		r.Expiry = b.opts.Now().Add(time.Until(tok.Expiry))
	}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		r.Scopes = strings.FieldsFunc(s, func(c rune) bool { return c == ' ' || c == ',' })
	} else if r.Scopes == nil {
		r.Scopes = slices.Clone(p.Scopes)
	}
	return r
}

func (b *Broker) notConnected(k Key, reason string) error {
	e := &NotConnectedError{Provider: k.Provider, Reason: reason}
	if u, err := b.ConnectURL(k.Tenant, k.User, k.Provider); err == nil {
		e.ConnectURL = u
	}
	return e
}

// Secrets returns every token value the broker holds for (tenant, user),
// access and refresh, for every provider — what the gateway redacts by
// exact match from responses. On a store error it returns what it could
// read and the error; a caller that must not miss one should deny.
func (b *Broker) Secrets(ctx context.Context, tenant, user string) ([]string, error) {
	entries, err := b.store.UserRecords(ctx, tenant, user)
	var out []string
	for _, e := range entries {
		for _, s := range []string{e.Record.AccessToken, e.Record.RefreshToken} {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, err
}

// Connection describes one stored credential, without its tokens.
type Connection struct {
	Provider    string
	Scopes      []string
	ConnectedAt time.Time
	Expiry      time.Time
	Refreshable bool
}

// Connections lists the providers (tenant, user) has connected.
func (b *Broker) Connections(ctx context.Context, tenant, user string) ([]Connection, error) {
	entries, err := b.store.UserRecords(ctx, tenant, user)
	out := make([]Connection, 0, len(entries))
	for _, e := range entries {
		out = append(out, Connection{Provider: e.Key.Provider, Scopes: e.Record.Scopes, ConnectedAt: e.Record.ConnectedAt,
			Expiry: e.Record.Expiry, Refreshable: e.Record.RefreshToken != ""})
	}
	slices.SortFunc(out, func(a, b Connection) int { return strings.Compare(a.Provider, b.Provider) })
	return out, err
}

// ProviderRevocation is the outcome of revoking one provider's tokens.
// Err is nil when every token was revoked (or the provider has no
// revocation endpoint: Skipped).
type ProviderRevocation struct {
	Provider string
	Skipped  bool
	Err      error
}

// RevokeUser ends (tenant, user)'s brokered access: it deletes every
// record first — so no call is served one more time — then asks each
// provider with a revocation endpoint to revoke the refresh token, then
// the access token (RFC 7009). Connect links issued and flows started
// before now stop working in this process. Local deletion always happens;
// the error joins the per-provider failures and any store failure.
func (b *Broker) RevokeUser(ctx context.Context, tenant, user string) ([]ProviderRevocation, error) {
	if err := (Key{tenant, user, "x"}).validate(); err != nil {
		return nil, err
	}
	b.markRevoked(tenant, user)
	b.pending.dropUser(tenant, user)
	entries, listErr := b.store.UserRecords(ctx, tenant, user)
	delErr := b.store.DeleteUser(ctx, tenant, user)
	var results []ProviderRevocation
	errs := []error{listErr, delErr}
	for _, e := range entries {
		res := ProviderRevocation{Provider: e.Key.Provider}
		p, ok := b.providers[e.Key.Provider]
		switch {
		case !ok:
			res.Err = fmt.Errorf("provider %q is no longer configured; its tokens were deleted but not revoked", e.Key.Provider)
		case p.RevocationURL == "":
			res.Skipped = true
		default:
			res.Err = b.revokeTokens(ctx, p, e.Record)
		}
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", res.Provider, res.Err))
		}
		results = append(results, res)
	}
	b.log.Info("broker: user revoked", "tenant", tenant, "user", user, "records", len(entries))
	if err := errors.Join(errs...); err != nil {
		return results, fmt.Errorf("broker: revoke tenant=%q user=%q: %w", tenant, user, err)
	}
	return results, nil
}

// Rewrap re-encrypts every stored record under the key ring's current key
// (the second step of a key rotation, docs/broker.md). The store must
// implement Rewrapper.
func (b *Broker) Rewrap(ctx context.Context) (RewrapReport, error) {
	rw, ok := b.store.(Rewrapper)
	if !ok {
		return RewrapReport{}, fmt.Errorf("broker: store %T cannot rewrap", b.store)
	}
	return rw.Rewrap(ctx)
}

func (b *Broker) markRevoked(tenant, user string) {
	now := b.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	horizon := b.opts.TicketTTL + b.opts.StateTTL
	for k, at := range b.revokedAt {
		if now.Sub(at) > horizon {
			delete(b.revokedAt, k) // every ticket and flow from before it has expired
		}
	}
	b.revokedAt[userKey{tenant, user}] = now
}

// revokedSince reports whether (tenant, user) was revoked at or after t.
func (b *Broker) revokedSince(k Key, t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.revokedAt[userKey{k.Tenant, k.User}]
	return ok && !at.Before(t)
}
