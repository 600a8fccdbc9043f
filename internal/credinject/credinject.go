// Package credinject decides which credentials go on one upstream MCP
// request: always a token the gateway mints for that call (internal/mint),
// and, for a server that declares one, the user's brokered third-party
// credential (internal/broker). The agent's own token never leaves the
// gateway (ext_authz removes it); what this package returns replaces it.
//
// It also returns every secret value it injected, so that ext_proc can
// redact an exact echo of them from the response (a tool server that
// reflects its Authorization header must not hand it to the agent).
package credinject

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/broker"
	"github.com/actiongate/actiongate/internal/mint"
	"github.com/actiongate/actiongate/internal/principal"
)

// TokenHeader carries the minted token; AltTokenHeader carries it when a
// brokered credential uses Authorization itself.
const (
	TokenHeader    = "authorization"
	AltTokenHeader = "x-actiongate-token"
)

// Call is the request being forwarded, as ext_authz decided it.
type Call struct {
	DecisionID string
	Server     string
	Tool       string // "" for messages other than tools/call
	User       string
	Agent      string
	Chain      []string // delegation chain subjects, acting agent first
	Tenant     string
	Task       string
	// Audience is the upstream's resource identifier (aud).
	Audience string
	// Provider is the broker provider the server declares ("" for none).
	Provider string
}

// Header is one header to set on the upstream request.
type Header struct{ Name, Value string }

// Injection is what to put on the request and what to redact after.
type Injection struct {
	Headers []Header
	// Secrets are the injected credential values: never logged, redacted
	// from responses.
	Secrets []string
}

// Broker is the part of *broker.Broker used here.
type Broker interface {
	Credential(ctx context.Context, tenant, user, provider string) (broker.Credential, error)
}

// Injector builds injections. Minter is required; Broker only for servers
// that declare a provider.
type Injector struct {
	Minter   *mint.Minter
	Broker   Broker
	Lifetime time.Duration // 0: the minter's default
}

// ErrNoBroker: a server declares a brokered credential but the gateway
// has no broker configured. Fail closed: the call would reach the server
// without the identity it requires.
var ErrNoBroker = errors.New("server declares a brokered credential but no broker is configured")

// ForCall mints the call's token and fetches the brokered credential. A
// user who has not connected the provider gets broker.ErrNotConnected
// (a *broker.NotConnectedError with the connect link).
func (in *Injector) ForCall(ctx context.Context, c Call) (Injection, error) {
	var inj Injection
	tokenHeader := TokenHeader
	// Only a tool call acts with the user's account; session set-up and
	// listing must work before the user has connected it, so that the
	// refusal can reach them as a tool error with the connect link.
	if c.Provider != "" && c.Tool != "" {
		if in.Broker == nil {
			return Injection{}, ErrNoBroker
		}
		cred, err := in.Broker.Credential(ctx, c.Tenant, c.User, c.Provider)
		if err != nil {
			return Injection{}, err
		}
		name := strings.ToLower(cred.HeaderName)
		inj.Headers = append(inj.Headers, Header{Name: name, Value: cred.HeaderValue})
		inj.Secrets = append(inj.Secrets, cred.Token)
		if name == TokenHeader {
			tokenHeader = AltTokenHeader
		}
	}
	g := mint.Grant{Subject: c.User, Audience: c.Audience, Server: c.Server, Tool: c.Tool,
		Tenant: c.Tenant, Task: c.Task, DecisionID: c.DecisionID, Lifetime: in.Lifetime}
	for _, a := range c.Chain {
		g.Actors = append(g.Actors, principal.Actor{Subject: a})
	}
	if len(g.Actors) == 0 && c.Agent != "" {
		g.Actors = []principal.Actor{{Subject: c.Agent}}
	}
	tok, err := in.Minter.Mint(g)
	if err != nil {
		return Injection{}, fmt.Errorf("minting the upstream token: %w", err)
	}
	inj.Headers = append(inj.Headers, Header{Name: tokenHeader, Value: "Bearer " + tok.Raw})
	inj.Secrets = append(inj.Secrets, tok.Raw)
	return inj, nil
}
