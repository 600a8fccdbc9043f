package e2e

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/demo"
	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/mint"
)

// codeHostApp is the GitHub-like OAuth app at the dev IdP whose accounts
// the code server acts with.
const codeHostApp = "github-like"

func codeHostProvider(idpAddr string) broker.Provider {
	base := "http://" + idpAddr
	return broker.Provider{Name: codeHostApp, AuthURL: base + "/authorize", TokenURL: base + "/oauth/token",
		RevocationURL: base + "/revoke", ClientID: codeHostApp, ClientSecret: devidp.DevSecret(codeHostApp),
		Scopes: []string{"repo"}, LoginHintParam: "login_hint",
		Inject: broker.Injection{Header: "Authorization", Format: "token {token}"}}
}

// upstreamLog keeps what a token-checking upstream saw: the raw header and
// the verified claims of every request.
type upstreamLog struct {
	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct {
	authorization string
	claims        mint.Claims
}

func (l *upstreamLog) add(r seenRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

func (l *upstreamLog) all() []seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seenRequest(nil), l.reqs...)
}

// verifier builds what an upstream needs to check the gateway's tokens
// for its own audience.
func (e *environment) verifier(audience string) (*mint.Verifier, error) {
	issuer := "http://" + e.adminAddr
	return mint.NewVerifier(mint.VerifierConfig{Issuer: issuer, Audience: audience, JWKSURL: issuer + mint.JWKSPath,
		MinRefetchInterval: 100 * time.Millisecond, Leeway: 10 * time.Millisecond})
}

// startVerified serves a demo server behind the token middleware.
func (e *environment) startVerified(id string, mode demo.Mode) (*demo.Running, error) {
	port, err := devenv.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	v, err := e.verifier("http://" + addr + demo.Path)
	if err != nil {
		return nil, err
	}
	return demo.StartWrapped(addr, id, mode, func(next http.Handler) http.Handler {
		record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := mint.ClaimsFromContext(r.Context())
			e.upstream.add(seenRequest{authorization: r.Header.Get("Authorization"), claims: c})
			next.ServeHTTP(w, r)
		})
		return mint.Middleware(v, mint.MiddlewareConfig{RequiredScope: mint.ToolCallScope(id)}, record)
	})
}

func (e *environment) startCode() (*demo.Running, *demo.Seen, error) {
	return demo.StartCode("", demo.ModeJSON, demo.CodeOptions{ProviderAPI: "http://" + e.idpAddr + devidp.APIUserPath}, nil)
}

func codeRegistry(upstream string) string {
	return `apiVersion: actiongate.dev/v1
kind: MCPServer
spec:
  id: code
  upstream: ` + upstream + `
  owner: platform@actiongate.example
  purpose: A GitHub-like code host that acts with the user's own account
  classification: internal
  credential: {provider: ` + codeHostApp + `}
  tools:
    - name: list_repos
      description: List the repositories of the user's account at the code host.
      risk: low
      annotations: {title: List repositories, readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true}
      inputSchema: {type: object, properties: {}, additionalProperties: false}
    - name: debug_request
      description: Show the HTTP request the code host received, for troubleshooting.
      risk: low
      annotations: {title: Debug request, readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false}
      inputSchema: {type: object, properties: {}, additionalProperties: false}
`
}
