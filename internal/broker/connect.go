package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// browserCookie binds a flow to the browser that started it: the callback
// must come from the same browser, so a state value seen elsewhere (a
// proxy log, a shoulder) cannot be completed by someone else.
const browserCookie = "actiongate_connect"

// ConnectURL returns the link a user follows to connect provider:
// {PublicURL}{ConnectPath}/{provider}?ticket=… The ticket is signed, binds
// (tenant, user, provider), expires after TicketTTL and completes at most
// one connection. It is a short-lived credential: put it in the denial
// message for that user, never in a log.
func (b *Broker) ConnectURL(tenant, user, providerName string) (string, error) {
	if b.opts.PublicURL == "" {
		return "", errors.New("broker: no PublicURL configured, so there is no connect link")
	}
	if _, err := b.provider(providerName); err != nil {
		return "", err
	}
	k := Key{Tenant: tenant, User: user, Provider: providerName}
	if err := k.validate(); err != nil {
		return "", err
	}
	now := b.opts.Now()
	t := ticket{Tenant: tenant, User: user, Provider: providerName, IssuedAt: now.UnixMilli(),
		Expires: now.Add(b.opts.TicketTTL).Unix(), Nonce: randomString()}
	return strings.TrimSuffix(b.opts.PublicURL, "/") + b.opts.ConnectPath + "/" + url.PathEscape(providerName) +
		"?ticket=" + url.QueryEscape(signTicket(b.ticketKey, t)), nil
}

// Handler serves GET {ConnectPath}/callback and GET {ConnectPath}/{provider}.
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+b.opts.ConnectPath+"/callback", b.CallbackHandler())
	mux.Handle("GET "+b.opts.ConnectPath+"/{provider}", b.ConnectHandler())
	return mux
}

// ConnectHandler starts a connect flow: GET …/{provider}?ticket=… It
// verifies the ticket, keeps a fresh state and PKCE verifier server-side
// and redirects the browser to the provider. The provider is the last
// path segment, so the handler can be mounted anywhere.
func (b *Broker) ConnectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("provider")
		if name == "" {
			name = path.Base(r.URL.Path)
		}
		p, ok := b.providers[name]
		if !ok {
			b.page(w, http.StatusNotFound, "Unknown provider", "This gateway has no provider by that name.")
			return
		}
		t, err := verifyTicket(b.ticketKey, r.URL.Query().Get("ticket"), b.opts.Now())
		if err == nil && t.Provider != name {
			err = errTicketForged
		}
		if err == nil {
			err = b.ticketUsable(t)
		}
		if err != nil {
			b.log.Warn("broker: connect link refused", "provider", name, "reason", err.Error())
			b.page(w, http.StatusForbidden, "Link not valid",
				"This connect link is invalid, expired or already used. Ask your agent to try again for a new link.")
			return
		}
		verifier, state, browser := oauth2.GenerateVerifier(), randomString(), randomString()
		now := b.opts.Now()
		flow := &pendingFlow{key: Key{t.Tenant, t.User, t.Provider}, verifier: verifier, ticketNonce: t.Nonce,
			ticketExp: time.Unix(t.Expires, 0), browser: sha256.Sum256([]byte(browser)), created: now, expires: now.Add(b.opts.StateTTL)}
		if !b.pending.put(state, flow, now) {
			b.page(w, http.StatusServiceUnavailable, "Busy", "Too many connections are in progress. Try again in a few minutes.")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: browserCookie, Value: browser, Path: b.opts.ConnectPath, MaxAge: int(b.opts.StateTTL.Seconds()),
			HttpOnly: true, Secure: strings.HasPrefix(b.opts.PublicURL, "https://"), SameSite: http.SameSiteLaxMode,
		})
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
		if p.LoginHintParam != "" {
			opts = append(opts, oauth2.SetAuthURLParam(p.LoginHintParam, t.User))
		}
		for k, v := range p.AuthParams {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
		noStore(w)
		http.Redirect(w, r, p.oauth.AuthCodeURL(state, opts...), http.StatusFound)
	})
}

// CallbackHandler completes a flow: GET …/callback?code=…&state=… The
// state is taken (single use) before anything else; the browser cookie
// must match; the code is exchanged with the PKCE verifier and the token
// stored. Nothing secret is ever written into a page.
func (b *Broker) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		flow, ok := b.pending.take(q.Get("state"), b.opts.Now())
		if !ok {
			b.page(w, http.StatusBadRequest, "Link not valid",
				"This sign-in is unknown, expired or already completed. Start again from a new connect link.")
			return
		}
		k := flow.key
		c, err := r.Cookie(browserCookie)
		if err != nil || subtle.ConstantTimeCompare(flow.browser[:], hashOf(c.Value)) != 1 {
			b.log.Warn("broker: connect callback from another browser", "tenant", k.Tenant, "user", k.User, "provider", k.Provider)
			b.page(w, http.StatusBadRequest, "Wrong browser", "Finish connecting in the browser where you opened the connect link.")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: "", Path: b.opts.ConnectPath, MaxAge: -1})
		if e := q.Get("error"); e != "" {
			b.log.Info("broker: provider refused the connection", "provider", k.Provider, "error", oauthCode(e))
			b.page(w, http.StatusForbidden, "Not connected", "The provider did not grant access ("+oauthCode(e)+"). Nothing was stored.")
			return
		}
		if b.revokedSince(k, flow.created) || !b.ticketFresh(flow.ticketNonce) {
			b.page(w, http.StatusForbidden, "Link not valid", "This connect link is no longer valid. Ask your agent for a new one.")
			return
		}
		if q.Get("code") == "" {
			b.page(w, http.StatusBadRequest, "Not connected", "The provider sent no authorization code. Nothing was stored.")
			return
		}
		if err := b.complete(r.Context(), flow, q.Get("code")); err != nil {
			b.log.Warn("broker: connect failed", "tenant", k.Tenant, "user", k.User, "provider", k.Provider, "error", err.Error())
			b.page(w, http.StatusBadGateway, "Not connected", "The provider did not accept the sign-in. Nothing was stored; start again from a new connect link.")
			return
		}
		b.page(w, http.StatusOK, "Connected", "Your "+k.Provider+" account is connected. You can close this window and ask your agent to try again.")
	})
}

// complete exchanges the code and stores the record.
func (b *Broker) complete(ctx context.Context, flow *pendingFlow, code string) error {
	p := b.providers[flow.key.Provider]
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := p.oauth.Exchange(b.oauthContext(ctx), code, oauth2.VerifierOption(flow.verifier))
	if err != nil {
		return safeOAuthError(err)
	}
	rec := b.recordFrom(p, tok, Record{})
	rec.ConnectedAt = b.opts.Now()
	if !b.consumeTicket(flow.ticketNonce, flow.ticketExp) {
		_ = b.revokeTokens(ctx, p, rec)
		return errors.New("the connect link was used by another flow meanwhile")
	}
	if err := b.store.Save(ctx, flow.key, rec); err != nil {
		return err
	}
	b.log.Info("broker: connected", "tenant", flow.key.Tenant, "user", flow.key.User, "provider", flow.key.Provider, "scopes", rec.Scopes)
	return nil
}

// ticketUsable: not yet used for a connection, and issued after the
// user's last revocation.
func (b *Broker) ticketUsable(t ticket) error {
	if b.revokedSince(Key{t.Tenant, t.User, t.Provider}, time.UnixMilli(t.IssuedAt)) {
		return errors.New("connect ticket predates the user's revocation")
	}
	if !b.ticketFresh(t.Nonce) {
		return errors.New("connect ticket already used")
	}
	return nil
}

func (b *Broker) ticketFresh(nonce string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, used := b.usedTickets[nonce]
	return !used
}

// consumeTicket marks a ticket used; false if it already was. Entries are
// kept until the ticket would have expired anyway.
func (b *Broker) consumeTicket(nonce string, exp time.Time) bool {
	now := b.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for n, e := range b.usedTickets {
		if now.After(e) {
			delete(b.usedTickets, n)
		}
	}
	if _, used := b.usedTickets[nonce]; used {
		return false
	}
	b.usedTickets[nonce] = exp
	return true
}

// pendingFlow is a connect flow between the redirect to the provider and
// its callback.
type pendingFlow struct {
	key         Key
	verifier    string
	ticketNonce string
	ticketExp   time.Time
	browser     [32]byte
	created     time.Time
	expires     time.Time
}

type pendingFlows struct {
	mu  sync.Mutex
	m   map[string]*pendingFlow
	max int
}

func newPendingFlows(max int) *pendingFlows {
	return &pendingFlows{m: map[string]*pendingFlow{}, max: max}
}

func (p *pendingFlows) put(state string, f *pendingFlow, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m) >= p.max {
		for s, e := range p.m {
			if now.After(e.expires) {
				delete(p.m, s)
			}
		}
		if len(p.m) >= p.max {
			return false
		}
	}
	p.m[state] = f
	return true
}

// take removes and returns the flow of state, if it has not expired.
func (p *pendingFlows) take(state string, now time.Time) (*pendingFlow, bool) {
	if state == "" {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.m[state]
	delete(p.m, state)
	if !ok || now.After(f.expires) {
		return nil, false
	}
	return f, true
}

func (p *pendingFlows) dropUser(tenant, user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s, f := range p.m {
		if f.key.Tenant == tenant && f.key.User == user {
			delete(p.m, s)
		}
	}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · ActionGate</title></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

// page writes a plain page. Callers pass fixed text plus at most a
// provider name or an OAuth error code: never a token, ticket, state or code.
func (b *Broker) page(w http.ResponseWriter, status int, title, message string) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Message string }{title, message})
}
