package devidp

import (
	"slices"

	"github.com/actiongate/actiongate/internal/registry"
)

// QuickstartOptions derives the dev IdP's users and agents from the
// registry, for the quickstart (Issuer DefaultIssuer, Audience
// DefaultAudience):
//   - one agent per registry agent, with the PUBLIC secret DevSecret(id);
//   - one user per subject any agent lists in Users, and one user
//     "<group>-member" (Groups [group]) per group any agent lists in Groups;
//   - a user's Tenant is the first tenant of the first agent (in id order)
//     that lists the user or the group, and its Tenants every tenant of
//     every such agent, so a token may name any of them and the gateway —
//     not the IdP — decides what an agent may do there.
func QuickstartOptions(reg *registry.Registry) Options {
	opts := Options{Issuer: DefaultIssuer, Audience: DefaultAudience}
	users := map[string]*User{}
	var order []string
	add := func(subject string, groups []string, tenants []string) {
		u, ok := users[subject]
		if !ok {
			u = &User{Subject: subject, Groups: groups}
			users[subject] = u
			order = append(order, subject)
		}
		for _, t := range tenants {
			switch {
			case u.Tenant == "":
				u.Tenant = t
			case t != u.Tenant && !slices.Contains(u.Tenants, t):
				u.Tenants = append(u.Tenants, t)
			}
		}
	}
	for _, a := range reg.Agents {
		opts.Agents = append(opts.Agents, Agent{ClientID: a.ID, ClientSecret: DevSecret(a.ID)})
		for _, sub := range a.Users {
			add(sub, nil, a.Tenants)
		}
		for _, g := range a.Groups {
			add(g+"-member", []string{g}, a.Tenants)
		}
	}
	for _, sub := range order {
		opts.Users = append(opts.Users, *users[sub])
	}
	return opts
}
