package registry

import (
	"slices"
	"strings"
)

// New assembles a Registry from already-validated parts: it sorts and
// indexes them and nothing more. Load is the way to read operator input;
// New serves programs and tests that build a registry themselves.
func New(v Version, servers []Server, agents []Agent, tenants []Tenant) *Registry {
	r := &Registry{
		Version: v,
		Servers: slices.Clone(servers),
		Agents:  slices.Clone(agents),
		Tenants: slices.Clone(tenants),
	}
	slices.SortFunc(r.Servers, func(a, b Server) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.Agents, func(a, b Agent) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.Tenants, func(a, b Tenant) int { return strings.Compare(a.ID, b.ID) })
	r.index()
	return r
}
