// Package principal is who a call is made for and by: the user whose
// authority is used, the agent (OAuth client) acting for them, the tenant
// boundary, the task, and the full delegation chain. extauthz derives it
// from a verified token; decisions, audit events and replay record it.
package principal

import "time"

// Actor is one link of an RFC 8693 delegation chain (an "act" claim).
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
}

// Principal is derived only from a verified token (and, for Task, a
// header); nothing in it is taken from the request body.
type Principal struct {
	// Issuer and User (the token's iss and sub) identify the person whose
	// authority is used. Registry users and SpiceDB user objects are subjects.
	Issuer string `json:"iss"`
	User   string `json:"user"`
	// Agent is the acting OAuth client: the outermost "act" claim's sub
	// when the token was delegated (RFC 8693), else azp / client_id.
	Agent string `json:"agent"`
	// Tenant comes from a configured claim.
	Tenant string `json:"tenant,omitempty"`
	// Task is recorded for attribution only, never trusted for
	// authorization (a configured claim or header).
	Task string `json:"task,omitempty"`
	// Groups the token asserts (a configured claim).
	Groups []string `json:"groups,omitempty"`
	// Chain is the delegation chain, outermost (current) actor first.
	Chain []Actor `json:"chain,omitempty"`
	// TokenID is the token's jti, when present; ExpiresAt its exp.
	TokenID   string    `json:"jti,omitempty"`
	ExpiresAt time.Time `json:"exp"`
}
