package authzmodel

import (
	"context"
	_ "embed"
	"fmt"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Schema is the SpiceDB schema this package writes and checks against.
//
//go:embed schema.zed
var Schema string

// Object types, relations, permission and caveats of schema.zed. Sync and
// the check build every request from these; a test keeps them in step with
// the schema text.
const (
	typeUser   = "user"
	typeGroup  = "group"
	typeTenant = "tenant"
	typeTier   = "tier"
	typeAgent  = "agent"
	typeServer = "server"
	typeTool   = "tool"
	// typeRevocations has one object, revocationsID; Sync never touches it.
	typeRevocations = "revocations"
	revocationsID   = "all"

	relClaimed      = "claimed"       // group
	relMember       = "member"        // group permission named by subject sets
	relCurrent      = "current"       // tenant
	relActing       = "acting"        // agent
	relApproved     = "approved"      // agent
	relTenant       = "tenant"        // agent
	relTier         = "tier"          // agent
	relServer       = "server"        // tool
	relUserGrant    = "user_grant"    // server, tool
	relAgentGrant   = "agent_grant"   // server, tool
	relRevocations  = "revocations"   // tool → revocations:all
	relRevokedUser  = "revoked_user"  // revocations
	relRevokedAgent = "revoked_agent" // revocations

	permInvoke = "invoke"

	caveatInGroups      = "in_groups"
	caveatRequestTenant = "request_tenant"
	caveatActingAgent   = "acting_agent"

	// Request context keys: what the token says.
	ctxAgent  = "agent"
	ctxTenant = "tenant"
	ctxGroups = "groups"
	// Stored caveat parameters: what the relationship says.
	paramGroup   = "group"
	paramTenant  = "tenant_id"
	paramAgentID = "agent_id"
)

// managedTypes are the resource types whose relationships Sync owns: every
// relationship with one of these as its resource is derived from the
// registry, and any other is deleted. typeRevocations is deliberately not
// one: revocations outlive syncs.
var managedTypes = []string{typeAgent, typeGroup, typeServer, typeTenant, typeTool}

// SchemaDiffers reports whether the stored schema differs from Schema
// (semantically, by SpiceDB's own DiffSchema). A server with no schema
// differs.
func (c *Client) SchemaDiffers(ctx context.Context) (bool, error) {
	resp, err := c.api.DiffSchema(ctx, &v1.DiffSchemaRequest{
		Consistency:      fullyConsistent,
		ComparisonSchema: Schema,
	})
	if status.Code(err) == codes.NotFound {
		return true, nil // no schema stored yet
	}
	if err != nil {
		return false, fmt.Errorf("spicedb diff schema: %w", err)
	}
	return len(resp.GetDiffs()) > 0, nil
}

// EnsureSchema writes Schema unless the stored schema already equals it,
// and reports whether it wrote. A write raises the consistency floor of
// later checks. SpiceDB refuses a schema that would orphan stored
// relationships; that error is returned as is.
func (c *Client) EnsureSchema(ctx context.Context) (bool, error) {
	token, err := c.ensureSchema(ctx)
	return token != "", err
}

// ensureSchema returns the token of its write, "" if it wrote nothing.
func (c *Client) ensureSchema(ctx context.Context) (string, error) {
	differs, err := c.SchemaDiffers(ctx)
	if err != nil || !differs {
		return "", err
	}
	resp, err := c.api.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: Schema})
	if err != nil {
		return "", fmt.Errorf("spicedb write schema: %w", err)
	}
	c.observe(resp.GetWrittenAt())
	c.log.Info("spicedb schema written", "zedtoken", resp.GetWrittenAt().GetToken())
	return resp.GetWrittenAt().GetToken(), nil
}
