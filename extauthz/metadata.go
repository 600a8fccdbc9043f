package extauthz

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/actiongate/actiongate/internal/registry"
)

// WellKnownPrefix is where RFC 9728 protected-resource metadata lives: for
// the resource <public>/mcp/ehr the document is at
// <public>/.well-known/oauth-protected-resource/mcp/ehr (RFC 9728 §3.1).
const WellKnownPrefix = "/.well-known/oauth-protected-resource"

// MetadataOptions say how agents see the gateway.
type MetadataOptions struct {
	// PublicURL is the gateway's URL as agents use it (scheme://host[:port],
	// no trailing slash). The metadata's resource must equal the URL the
	// client used (RFC 9728 §3.3), so it is the public one, not an upstream's.
	PublicURL string
	// AuthorizationServers are the issuers agents get tokens from.
	AuthorizationServers []string
}

// ResourceURL is the protected resource of one MCP server.
func (o MetadataOptions) ResourceURL(server string) string {
	return strings.TrimSuffix(o.PublicURL, "/") + "/mcp/" + server
}

// MetadataURL is where that resource's metadata is served; 401s point to it
// in WWW-Authenticate.
func (o MetadataOptions) MetadataURL(server string) string {
	return strings.TrimSuffix(o.PublicURL, "/") + WellKnownPrefix + "/mcp/" + server
}

type protectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// MetadataHandler serves protected-resource metadata for every registered
// server, from the current registry version; anything else is 404.
func MetadataHandler(reg func() *registry.Registry, o MetadataOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		id, ok := strings.CutPrefix(r.URL.Path, WellKnownPrefix+"/mcp/")
		var srv *registry.Server
		if ok && reg != nil {
			if cur := reg(); cur != nil {
				srv, ok = cur.Server(id)
			}
		}
		if !ok || srv == nil {
			http.NotFound(w, r)
			return
		}
		b, err := json.Marshal(protectedResource{
			Resource:               o.ResourceURL(srv.ID),
			AuthorizationServers:   o.AuthorizationServers,
			BearerMethodsSupported: []string{"header"},
			ResourceName:           srv.Purpose,
		})
		if err != nil {
			http.Error(w, "metadata unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(b)
	})
}
