package authzmodel

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// RevokeUser puts user (a token subject, as in principal.Principal.User)
// on revocations:all: from the returned ZedToken on, SpiceDB denies every
// tool to them, through any agent, whatever the registry grants, and Sync
// leaves it in place. Revoking a revoked user succeeds. This client's
// later checks are at least as fresh as the write and its answer cache is
// dropped; hand the token to the other replicas (ObserveZedToken) so
// theirs are too.
func (c *Client) RevokeUser(ctx context.Context, user string) (string, error) {
	return c.writeRevocation(ctx, v1.RelationshipUpdate_OPERATION_TOUCH, relRevokedUser, typeUser, user)
}

// RevokeAgent puts agent on revocations:all: SpiceDB denies every tool
// call in which it is the acting agent, for every person, as RevokeUser.
func (c *Client) RevokeAgent(ctx context.Context, agent string) (string, error) {
	return c.writeRevocation(ctx, v1.RelationshipUpdate_OPERATION_TOUCH, relRevokedAgent, typeAgent, agent)
}

// LiftUser ends a RevokeUser; the registry's grants apply again. Lifting a
// user who is not revoked succeeds.
func (c *Client) LiftUser(ctx context.Context, user string) (string, error) {
	return c.writeRevocation(ctx, v1.RelationshipUpdate_OPERATION_DELETE, relRevokedUser, typeUser, user)
}

// LiftAgent ends a RevokeAgent.
func (c *Client) LiftAgent(ctx context.Context, agent string) (string, error) {
	return c.writeRevocation(ctx, v1.RelationshipUpdate_OPERATION_DELETE, relRevokedAgent, typeAgent, agent)
}

func (c *Client) writeRevocation(ctx context.Context, op v1.RelationshipUpdate_Operation, rel, subjectType, subject string) (string, error) {
	if subject == "" {
		return "", fmt.Errorf("spicedb revocation: no %s", subjectType)
	}
	id := ObjectID(subject)
	if len(id) > maxObjectID {
		return "", errors.New("spicedb revocation: " + subjectType + " id longer than SpiceDB allows")
	}
	r := revocationRelationship(rel, subjectType, id)
	p, err := r.proto()
	if err != nil {
		return "", err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.api.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{
		Updates: []*v1.RelationshipUpdate{{Operation: op, Relationship: p}},
	})
	if err != nil {
		return "", fmt.Errorf("spicedb revocation of %s %s: %w", subjectType, id, err)
	}
	c.observe(resp.GetWrittenAt())
	verb := "revoked"
	if op == v1.RelationshipUpdate_OPERATION_DELETE {
		verb = "lifted"
	}
	c.log.Info("spicedb revocation "+verb, "subject_type", subjectType, "subject", id,
		"zedtoken", resp.GetWrittenAt().GetToken())
	return resp.GetWrittenAt().GetToken(), nil
}

// revocationRelationship is revocations:all#<rel>@<subjectType>:<id>.
func revocationRelationship(rel, subjectType, id string) Relationship {
	return Relationship{
		ResourceType: typeRevocations, ResourceID: revocationsID, Relation: rel,
		SubjectType: subjectType, SubjectID: id,
	}
}

// Revoked lists the revoked users and agents, as escaped object ids
// (ObjectID), read fully consistently.
func (c *Client) Revoked(ctx context.Context) (users, agents []string, err error) {
	rs, err := c.readType(ctx, typeRevocations)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rs {
		switch r.Relation {
		case relRevokedUser:
			users = append(users, r.SubjectID)
		case relRevokedAgent:
			agents = append(agents, r.SubjectID)
		}
	}
	return users, agents, nil
}
