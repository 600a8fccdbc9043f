// Package signals receives deprovisioning signals from identity providers
// and turns each into a revocation request for one gateway user: Shared
// Signals Framework pushes (RFC 8935 delivery of RFC 8417 Security Event
// Tokens carrying CAEP/RISC events) and SCIM 2.0 user deactivation and
// deletion (RFC 7644). It decides who is revoked and why; the Revoker the
// lead wires in does the revoking (relationships, token caches, brokered
// credentials, live streams). A receiver acknowledges only after Revoke
// returned nil, so a failure makes the transmitter retry (fail closed).
package signals

import (
	"context"
	"time"
)

// Source names the channel a revocation came through.
type Source string

const (
	SourceSSF  Source = "ssf"
	SourceSCIM Source = "scim"
)

// Event types handled as revocations (CAEP 1.0, RISC 1.0).
const (
	EventSessionRevoked       = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventAccountDisabled      = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	EventAccountPurged        = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	EventCredentialCompromise = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise"
	EventRISCSessionsRevoked  = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
	EventSCIMDeactivated      = "scim:user-deactivated" // PATCH or PUT with active=false
	EventSCIMDeleted          = "scim:user-deleted"     // DELETE /Users/{id}
)

// revokingEvents maps each SSF event type that revokes to a short name
// used in reasons and counters.
var revokingEvents = map[string]string{
	EventSessionRevoked:       "session-revoked",
	EventAccountDisabled:      "account-disabled",
	EventAccountPurged:        "account-purged",
	EventCredentialCompromise: "credential-compromise",
	EventRISCSessionsRevoked:  "sessions-revoked",
}

// User is a gateway user exactly as internal/principal identifies one: the
// issuer and subject of the tokens the person's agents present.
type User struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// Request asks the Revoker to revoke one user everywhere.
type Request struct {
	Target User   `json:"target"`
	Reason string `json:"reason"`
	Source Source `json:"source"`
	// Transmitter is the configured name of the SSF transmitter or SCIM
	// client the signal came from.
	Transmitter string `json:"transmitter"`
	// EventID is the SET's jti, or an id generated for the SCIM request.
	// Retries of one SET carry the same EventID, so Revoke must be
	// idempotent per EventID (and revoking a revoked user is a no-op).
	EventID string `json:"event_id"`
	// EventType is the SSF event-type URI or one of the EventSCIM* values.
	EventType string `json:"event_type"`
	// OccurredAt is when the IdP says the event happened (CAEP
	// event_timestamp, else the SET's iat; the request time for SCIM).
	OccurredAt time.Time `json:"occurred_at"`
}

// Revoker revokes a user everywhere. A nil error means the revocation is
// in force (or durably queued to be); the receivers acknowledge only then.
type Revoker interface {
	Revoke(ctx context.Context, req Request) error
}

// RevokerFunc adapts a function to Revoker.
type RevokerFunc func(ctx context.Context, req Request) error

func (f RevokerFunc) Revoke(ctx context.Context, req Request) error { return f(ctx, req) }

// Rejection describes a signal that was refused or could not be applied.
// It never contains the SET, a bearer token or a request body.
type Rejection struct {
	Source      Source `json:"source"`
	Transmitter string `json:"transmitter"`
	// Status is the HTTP status answered; Code the RFC 8935 err code or
	// SCIM scimType ("" when none applies).
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// Reason says which check failed, for operators.
	Reason string `json:"reason"`
	// EventID is the SET's jti when it could be read (even unverified:
	// it helps correlate with the transmitter's logs), or the SCIM request id.
	EventID string `json:"event_id,omitempty"`
	// EventType and Target are set when the failure came after the
	// signal was understood (a Revoker failure, an unresolvable subject).
	EventType string `json:"event_type,omitempty"`
	Target    *User  `json:"target,omitempty"`
	// RemoteAddr is the peer address of the HTTP request.
	RemoteAddr string `json:"remote_addr,omitempty"`
}

// Auditor is told about every signal: each revocation applied, and every
// request refused or failed.
type Auditor interface {
	Rejected(ctx context.Context, r Rejection)
	Accepted(ctx context.Context, req Request)
}
