package authzmodel

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/actiongate/actiongate/internal/registry"
)

// Desired is every relationship the registry implies, sorted and without
// duplicates. It is a pure function: Sync makes SpiceDB hold exactly this.
//
//   - each tenant:  tenant:<t>#current@user:*[request_tenant]
//   - each tool:    tool:<s>/<x>#server@server:<s> and
//     tool:<s>/<x>#revocations@revocations:all (so revocations apply to it)
//   - each agent:   agent:<a>#acting@user:*[acting_agent], #tier@tier:<n>,
//     #tenant@tenant:<t> per tenant, #approved@user:<u> per user and
//     #approved@group:<g>#member per group (+ group:<g>#claimed@user:*[in_groups])
//   - each tool ref of an agent, at tool level (tool:<s>/<x>) or server level
//     (server:<s>, for "<s>/*"): #agent_grant@agent:<a>, and #user_grant for
//     each user and group the agent is approved for.
//
// The user grants are how the registry states a person's own authority
// today: approving a person for an agent's tools grants the person those
// tools. An entitlement source that narrows it (an IdP, an HR system) would
// own user_grant instead; see docs/decisions/0007-authz-model.md.
func Desired(reg *registry.Registry) []Relationship {
	var out []Relationship
	for _, t := range reg.Tenants {
		out = append(out, caveated(Relationship{
			ResourceType: typeTenant, ResourceID: ObjectID(t.ID), Relation: relCurrent,
			SubjectType: typeUser, SubjectID: "*",
		}, caveatRequestTenant, paramTenant, t.ID))
	}
	for _, s := range reg.Servers {
		for _, tool := range s.Tools {
			id := toolObjectID(s.ID, tool.Name)
			out = append(out, Relationship{
				ResourceType: typeTool, ResourceID: id, Relation: relServer,
				SubjectType: typeServer, SubjectID: ObjectID(s.ID),
			}, Relationship{
				ResourceType: typeTool, ResourceID: id, Relation: relRevocations,
				SubjectType: typeRevocations, SubjectID: revocationsID,
			})
		}
	}
	for i := range reg.Agents {
		out = appendAgent(out, &reg.Agents[i])
	}
	return dedupe(out)
}

func appendAgent(out []Relationship, a *registry.Agent) []Relationship {
	agent := func(rel, subjType, subjID, subjRel string) Relationship {
		return Relationship{
			ResourceType: typeAgent, ResourceID: ObjectID(a.ID), Relation: rel,
			SubjectType: subjType, SubjectID: subjID, SubjectRelation: subjRel,
		}
	}
	out = append(out, caveated(agent(relActing, typeUser, "*", ""), caveatActingAgent, paramAgentID, a.ID))
	if a.Tier > 0 {
		out = append(out, agent(relTier, typeTier, strconv.Itoa(int(a.Tier)), ""))
	}
	for _, t := range a.Tenants {
		out = append(out, agent(relTenant, typeTenant, ObjectID(t), ""))
	}
	people := approvedPeople(a)
	for _, p := range people {
		out = append(out, agent(relApproved, p.SubjectType, p.SubjectID, p.SubjectRelation))
	}
	for _, g := range a.Groups {
		out = append(out, caveated(Relationship{
			ResourceType: typeGroup, ResourceID: ObjectID(g), Relation: relClaimed,
			SubjectType: typeUser, SubjectID: "*",
		}, caveatInGroups, paramGroup, g))
	}
	for _, ref := range a.Tools {
		resType, resID := typeTool, toolObjectID(ref.Server, ref.Tool)
		if ref.Tool == "*" {
			resType, resID = typeServer, ObjectID(ref.Server)
		}
		out = append(out, Relationship{
			ResourceType: resType, ResourceID: resID, Relation: relAgentGrant,
			SubjectType: typeAgent, SubjectID: ObjectID(a.ID),
		})
		for _, p := range people {
			out = append(out, Relationship{
				ResourceType: resType, ResourceID: resID, Relation: relUserGrant,
				SubjectType: p.SubjectType, SubjectID: p.SubjectID, SubjectRelation: p.SubjectRelation,
			})
		}
	}
	return out
}

// approvedPeople are the subjects an agent acts for: its users, and the
// members of its groups. Only the subject fields are set.
func approvedPeople(a *registry.Agent) []Relationship {
	out := make([]Relationship, 0, len(a.Users)+len(a.Groups))
	for _, u := range a.Users {
		out = append(out, Relationship{SubjectType: typeUser, SubjectID: ObjectID(u)})
	}
	for _, g := range a.Groups {
		out = append(out, Relationship{SubjectType: typeGroup, SubjectID: ObjectID(g), SubjectRelation: relMember})
	}
	return out
}

func dedupe(rs []Relationship) []Relationship {
	slices.SortFunc(rs, compareRelationships)
	return slices.Compact(rs)
}

func compareRelationships(a, b Relationship) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		cmp.Compare(a.ResourceID, b.ResourceID),
		cmp.Compare(a.Relation, b.Relation),
		cmp.Compare(a.SubjectType, b.SubjectType),
		cmp.Compare(a.SubjectID, b.SubjectID),
		cmp.Compare(a.SubjectRelation, b.SubjectRelation),
		cmp.Compare(a.Caveat, b.Caveat),
		cmp.Compare(a.CaveatContext, b.CaveatContext),
	)
}
