// Package registry is the version-controlled inventory of what agents may
// touch: MCP servers and their tools, agents and the people they act for, and
// tenants. Every decision records the Version of the registry that produced it.
//
// Format v1 is a directory of YAML files, each holding one or more documents
// of the form
//
//	apiVersion: actiongate.dev/v1
//	kind: MCPServer | Agent | Tenant
//	spec: {...}
//
// Loading is strict (unknown fields, duplicates and dangling references are
// errors naming file, line and field) and produces an immutable *Registry that
// is swapped atomically by the Watcher.
package registry

import "encoding/json"

// APIVersion is the only document version this package understands.
const APIVersion = "actiongate.dev/v1"

// Document kinds.
const (
	KindMCPServer = "MCPServer"
	KindAgent     = "Agent"
	KindTenant    = "Tenant"
)

// Classification is the data classification of what an MCP server touches.
type Classification string

// Known classifications, least to most sensitive.
const (
	ClassPublic       Classification = "public"
	ClassInternal     Classification = "internal"
	ClassConfidential Classification = "confidential"
	ClassRestricted   Classification = "restricted"
)

// Risk is the owner's label for a tool.
type Risk string

// Known risk labels.
const (
	RiskLow      Risk = "low"
	RiskMedium   Risk = "medium"
	RiskHigh     Risk = "high"
	RiskCritical Risk = "critical"
)

// Tier is an agent's autonomy tier (CSA/NIST agentic profile): 1 fully
// supervised, 2 constrained (the default), 3 broad within boundaries, 4 full
// within a constrained environment.
type Tier int

// Version identifies the registry content that produced a decision.
type Version struct {
	// Commit is the git commit of the registry directory when it is a clean
	// git checkout, else empty.
	Commit string `json:"commit,omitempty"`
	// ContentHash is "sha256:<hex>" over the sorted file names and contents.
	// It is always set, so two hosts with the same files agree on it.
	ContentHash string `json:"contentHash"`
}

// String is the short form recorded in decisions and xDS metadata: the
// commit when there is one, else the content hash.
func (v Version) String() string {
	if v.Commit != "" {
		return "git:" + v.Commit
	}
	return v.ContentHash
}

// ToolAnnotations are the MCP tool annotations (hints, never trusted for
// security by the client; here they are the registered truth).
type ToolAnnotations struct {
	Title           string `yaml:"title,omitempty" json:"title,omitempty"`
	ReadOnlyHint    *bool  `yaml:"readOnlyHint,omitempty" json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `yaml:"destructiveHint,omitempty" json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `yaml:"idempotentHint,omitempty" json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `yaml:"openWorldHint,omitempty" json:"openWorldHint,omitempty"`
}

// Tool is one registered tool of an MCP server.
type Tool struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  ToolAnnotations `json:"annotations"`
	Risk         Risk            `json:"risk"`
	// Pin is the hash of the definition the owner reviewed (see
	// Definition.Hash); empty when the registry does not pin the tool, in
	// which case the definition itself is the pin. Load refuses a pin that
	// does not match the definition next to it.
	Pin string `json:"pin,omitempty"`

	defHash string
}

// Server is a registered upstream MCP server.
type Server struct {
	ID             string         `json:"id"`
	Upstream       string         `json:"upstream"` // http(s)://host:port/path of its MCP endpoint
	Owner          string         `json:"owner"`
	Purpose        string         `json:"purpose"`
	Classification Classification `json:"classification"`
	Tools          []Tool         `json:"tools"`
	// Credential names the broker provider whose per-user credential the
	// gateway injects into every request to this server (docs/broker.md);
	// nil: the server gets only the gateway-minted token.
	Credential *CredentialRef `json:"credential,omitempty"`

	// Source is "file:line" of the document, for error messages.
	Source string `json:"-"`
}

// CredentialRef is a server's brokered credential.
type CredentialRef struct {
	// Provider is a broker provider name (config broker.providers).
	Provider string `json:"provider"`
}

// Tool returns the named tool, or false.
func (s *Server) Tool(name string) (*Tool, bool) {
	for i := range s.Tools {
		if s.Tools[i].Name == name {
			return &s.Tools[i], true
		}
	}
	return nil, false
}

// Model is the model an agent runs on.
type Model struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ToolRef names a tool as "<server-id>/<tool-name>", or every tool of a
// server as "<server-id>/*".
type ToolRef struct {
	Server string `json:"server"`
	Tool   string `json:"tool"` // "*" for every tool of Server
}

// String returns the "<server>/<tool>" form.
func (r ToolRef) String() string { return r.Server + "/" + r.Tool }

// Agent is a registered agent: an OAuth client acting on behalf of users.
type Agent struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Purpose string    `json:"purpose"`
	Model   Model     `json:"model"`
	Tier    Tier      `json:"tier"`
	Users   []string  `json:"users"`   // approved user subjects
	Groups  []string  `json:"groups"`  // approved groups
	Tenants []string  `json:"tenants"` // tenant ids it may act in
	Tools   []ToolRef `json:"tools"`   // what it may use, at most

	Source string `json:"-"`
}

// MayUse reports whether the agent's declared scope includes server/tool.
func (a *Agent) MayUse(server, tool string) bool {
	for _, r := range a.Tools {
		if r.Server == server && (r.Tool == "*" || r.Tool == tool) {
			return true
		}
	}
	return false
}

// Tenant is an isolation boundary (a customer, a business unit).
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`

	Source string `json:"-"`
}

// Registry is one validated, immutable version of the registry. Never
// mutate a Registry after Load returns it: it is shared by every request.
type Registry struct {
	Version Version
	Servers []Server // sorted by ID
	Agents  []Agent  // sorted by ID
	Tenants []Tenant // sorted by ID

	servers map[string]*Server
	agents  map[string]*Agent
	tenants map[string]*Tenant
}

// Server returns the server with the given id, or false.
func (r *Registry) Server(id string) (*Server, bool) {
	s, ok := r.servers[id]
	return s, ok
}

// Agent returns the agent with the given id, or false.
func (r *Registry) Agent(id string) (*Agent, bool) {
	a, ok := r.agents[id]
	return a, ok
}

// Tenant returns the tenant with the given id, or false.
func (r *Registry) Tenant(id string) (*Tenant, bool) {
	t, ok := r.tenants[id]
	return t, ok
}

// index builds the lookup maps; Load calls it once the slices are final.
func (r *Registry) index() {
	r.servers = make(map[string]*Server, len(r.Servers))
	for i := range r.Servers {
		r.servers[r.Servers[i].ID] = &r.Servers[i]
	}
	r.agents = make(map[string]*Agent, len(r.Agents))
	for i := range r.Agents {
		r.agents[r.Agents[i].ID] = &r.Agents[i]
	}
	r.tenants = make(map[string]*Tenant, len(r.Tenants))
	for i := range r.Tenants {
		r.tenants[r.Tenants[i].ID] = &r.Tenants[i]
	}
}
