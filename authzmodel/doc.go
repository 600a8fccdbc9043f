// Package authzmodel owns everything ActionGate says to SpiceDB: the schema
// (schema.zed), the relationships the registry implies (Desired, Sync) and
// the one permission check per tool call (CheckInvoke). No other package
// speaks to SpiceDB.
//
// Effective authority is user ∩ agent ∩ tool ∩ tenant, evaluated by SpiceDB
// in one CheckPermission on tool:<server>/<tool>#invoke for user:<sub>, with
// the acting agent, the tenant and the token's groups as caveat context.
// Emergency revocations (RevokeUser, RevokeAgent) are excluded from it and
// outlive every Sync.
// docs/decisions/0007-authz-model.md explains the shape and its cost.
package authzmodel
