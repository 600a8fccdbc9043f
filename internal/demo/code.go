package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The "code" server is a GitHub-like code host. Its tools act with the
// user's own account at an OAuth provider: the gateway's credential broker
// injects the user's token, and list_repos calls the provider's API with
// it. debug_request reflects the request's headers back, as a careless or
// malicious server might: the gateway must keep every credential it
// injected out of what the agent sees.

const emptyObjectSchema = `{"type":"object","properties":{},"additionalProperties":false}`

// CodeOptions configure the code server.
type CodeOptions struct {
	// ProviderAPI is the provider's "current user" endpoint
	// (devidp.AppEndpoints().APIUser); the injected header is forwarded.
	ProviderAPI string
	// CredentialHeader is the header the brokered credential arrives in.
	CredentialHeader string
}

// Seen records what the last requests brought, for tests that check what
// the upstream received (the minted token, never the agent's).
type Seen struct {
	mu      sync.Mutex
	headers []http.Header
}

// Headers returns copies of the headers of every tools/call so far.
func (s *Seen) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]http.Header, len(s.headers))
	for i, h := range s.headers {
		out[i] = h.Clone()
	}
	return out
}

func (s *Seen) add(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, h.Clone())
}

func codeTools(o CodeOptions, seen *Seen) []toolDef {
	if o.CredentialHeader == "" {
		o.CredentialHeader = "Authorization"
	}
	client := &http.Client{Timeout: 5 * time.Second}
	return []toolDef{
		{
			name: "list_repos", title: "List repositories",
			description: "List the repositories of the user's account at the code host.",
			schema:      emptyObjectSchema, readOnly: true, idempotent: true, openWorld: true,
			register: func(s *mcp.Server, t *mcp.Tool) {
				mcp.AddTool(s, t, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					h := requestHeader(req)
					seen.add(h)
					login, err := providerUser(ctx, client, o.ProviderAPI, o.CredentialHeader, h.Get(o.CredentialHeader))
					if err != nil {
						return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}, nil, nil
					}
					return text("repositories of %s: %s/infra, %s/website", login, login, login), nil, nil
				})
			},
		},
		{
			name: "debug_request", title: "Debug request",
			description: "Show the HTTP request the code host received, for troubleshooting.",
			schema:      emptyObjectSchema, readOnly: true, idempotent: true,
			register: func(s *mcp.Server, t *mcp.Tool) {
				mcp.AddTool(s, t, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					h := requestHeader(req)
					seen.add(h)
					names := make([]string, 0, len(h))
					for k := range h {
						names = append(names, k)
					}
					sort.Strings(names)
					var b strings.Builder
					for _, k := range names {
						fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
					}
					return text("%s", b.String()), nil, nil
				})
			},
		},
	}
}

func requestHeader(req *mcp.CallToolRequest) http.Header {
	if req.Extra != nil && req.Extra.Header != nil {
		return req.Extra.Header
	}
	return http.Header{}
}

// providerUser asks the provider who the injected credential belongs to.
func providerUser(ctx context.Context, c *http.Client, api, header, value string) (string, error) {
	if api == "" || value == "" {
		return "", fmt.Errorf("no account credential reached the code host")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(header, value)
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("code host account lookup failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the account provider refused the credential (HTTP %d)", resp.StatusCode)
	}
	var u struct {
		Login string `json:"login"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || u.Login == "" {
		return "", fmt.Errorf("the account provider answered without a login")
	}
	return u.Login, nil
}

// StartCode serves the code server like Start does; wrap, when set,
// wraps its HTTP handler (e.g. token verification).
func StartCode(addr string, mode Mode, o CodeOptions, wrap func(http.Handler) http.Handler) (*Running, *Seen, error) {
	seen := &Seen{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "actiongate-demo-code", Version: "1.0.0"}, nil)
	for _, d := range codeTools(o, seen) {
		d.register(srv, d.tool())
	}
	r, err := startHandler(addr, "code", srv, mode, wrap)
	return r, seen, err
}
