package authzmodel

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/principal"
)

// Result is SpiceDB's answer for one tool call.
type Result struct {
	Allowed bool
	// Reason says why, for the decision record; it names no credential.
	Reason string
	// CheckedAt is the ZedToken of the revision SpiceDB answered at, ""
	// when no check was made.
	CheckedAt string
}

// Reasons CheckInvoke gives. A denial cannot say which leg was missing:
// SpiceDB answers the whole intersection at once.
const (
	ReasonAllowed      = "spicedb: the user, the acting agent and the tenant all grant the tool"
	ReasonNoPermission = "spicedb: no permission: the tool is unregistered, or the user, the agent's grant, " +
		"the agent's approval for this user or the tenant is missing"
	reasonConditional = "spicedb: conditional result treated as deny: missing caveat context "
	reasonIncomplete  = "principal incomplete: no "
)

// CheckInvoke asks SpiceDB, in exactly one CheckPermission, whether p.User,
// acting through p.Agent in p.Tenant (with p.Groups), may invoke
// server/tool. An error means no answer; the caller must deny. A principal
// without user, agent or tenant is denied without a call.
func (c *Client) CheckInvoke(ctx context.Context, p principal.Principal, server, tool string) (Result, error) {
	if missing := incomplete(p, server, tool); missing != "" {
		return Result{Reason: reasonIncomplete + missing}, nil
	}
	if named := c.groups.Load(); named != nil {
		p.Groups = relevantGroups(p.Groups, *named)
	}
	key, now := cacheKey(p, server, tool), time.Now()
	if r, ok := c.cache.get(key, now); ok {
		return r, nil
	}
	r, err := c.check(ctx, newCheckRequest(c.consistency.Load(), p, server, tool))
	if err == nil && (r.Allowed || r.Reason == ReasonNoPermission) {
		c.cache.put(key, r, now)
	}
	return r, err
}

func incomplete(p principal.Principal, server, tool string) string {
	switch {
	case p.User == "":
		return "user"
	case p.Agent == "":
		return "agent"
	case p.Tenant == "":
		return "tenant"
	case server == "" || tool == "":
		return "tool"
	}
	return ""
}

// relevantGroups keeps the claimed groups the registry names, without
// allocating when that is all of them or none.
func relevantGroups(claimed []string, named map[string]struct{}) []string {
	keep := 0
	for _, g := range claimed {
		if _, ok := named[g]; ok {
			keep++
		}
	}
	if keep == len(claimed) {
		return claimed
	}
	out := make([]string, 0, keep)
	for _, g := range claimed {
		if _, ok := named[g]; ok {
			out = append(out, g)
		}
	}
	return out
}

// checkRequest holds every message of one CheckPermission, so building a
// request costs a handful of allocations rather than one per message.
type checkRequest struct {
	req                  v1.CheckPermissionRequest
	resource, subjectObj v1.ObjectReference
	subject              v1.SubjectReference
	// caveatCtx is what the token says: the acting agent, the tenant and
	// the groups claim (an empty list, never absent, so a user without
	// groups is simply not a member).
	caveatCtx             structpb.Struct
	agent, tenant, groups structpb.Value
	agentStr, tenantStr   structpb.Value_StringValue
	groupsList            structpb.Value_ListValue
	list                  structpb.ListValue
}

func newCheckRequest(consistency *v1.Consistency, p principal.Principal, server, tool string) *checkRequest {
	r := &checkRequest{}
	r.resource.ObjectType, r.resource.ObjectId = typeTool, toolObjectID(server, tool)
	r.subjectObj.ObjectType, r.subjectObj.ObjectId = typeUser, ObjectID(p.User)
	r.subject.Object = &r.subjectObj
	r.agentStr.StringValue, r.agent.Kind = p.Agent, &r.agentStr
	r.tenantStr.StringValue, r.tenant.Kind = p.Tenant, &r.tenantStr
	if n := len(p.Groups); n > 0 {
		vals := make([]structpb.Value, n)
		strs := make([]structpb.Value_StringValue, n)
		r.list.Values = make([]*structpb.Value, n)
		for i, g := range p.Groups {
			strs[i].StringValue = g
			vals[i].Kind = &strs[i]
			r.list.Values[i] = &vals[i]
		}
	}
	r.groupsList.ListValue, r.groups.Kind = &r.list, &r.groupsList
	r.caveatCtx.Fields = map[string]*structpb.Value{ctxAgent: &r.agent, ctxTenant: &r.tenant, ctxGroups: &r.groups}
	r.req.Consistency = consistency
	r.req.Resource = &r.resource
	r.req.Permission = permInvoke
	r.req.Subject = &r.subject
	r.req.Context = &r.caveatCtx
	return r
}

// check makes the one CheckPermission and maps its answer.
func (c *Client) check(ctx context.Context, cr *checkRequest) (Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.api.CheckPermission(ctx, &cr.req)
	if err != nil {
		return Result{}, fmt.Errorf("spicedb check %s: %w", cr.resource.ObjectId, err)
	}
	r := Result{CheckedAt: resp.GetCheckedAt().GetToken()}
	switch resp.GetPermissionship() {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		r.Allowed, r.Reason = true, ReasonAllowed
	case v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:
		r.Reason = ReasonNoPermission
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		// Only a request missing context gets here; an unknown answer must
		// never become an allow.
		missing := strings.Join(resp.GetPartialCaveatInfo().GetMissingRequiredContext(), ", ")
		if missing == "" {
			missing = "(none named)"
		}
		r.Reason = reasonConditional + missing
	default:
		return Result{}, fmt.Errorf("spicedb check %s: unexpected permissionship %v", cr.resource.ObjectId, resp.GetPermissionship())
	}
	return r, nil
}
