// Package broker keeps users' upstream OAuth credentials (GitHub, Google,
// Slack…) for the gateway and injects them just in time: the agent never
// sees them.
//
//   - Records are sealed at rest with AES-256-GCM under a key ring
//     (ParseKeyRing, KeyRingFromEnv); the AAD binds (tenant, user,
//     provider), so a record copied into another slot does not open.
//     FileStore keeps one 0600 file per record under hashed names;
//     FileStore.Rewrap moves every record to the current key.
//   - Broker.Credential loads, refreshes (once for concurrent callers) and
//     returns the header to inject; a user who never connected, or whose
//     grant the provider dropped, gets ErrNotConnected with a connect link.
//   - Broker.ConnectURL, ConnectHandler and CallbackHandler are the connect
//     flow: a signed, short-lived ticket in the link, then the
//     authorization code flow with PKCE (S256), state kept server-side and
//     used once.
//   - Broker.RevokeUser deletes a user's records and revokes them at each
//     provider (RFC 7009); Broker.Secrets lists the live token values for
//     exact-match redaction.
//
// docs/broker.md has the configuration, the flow, key rotation and the
// threat notes.
package broker
