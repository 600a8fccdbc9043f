// Package mint issues the credential an upstream MCP server sees. For every
// allowed tool call the gateway drops the agent's own token and injects one
// minted here for that single call: subject = the user, act = the agent
// chain (RFC 8693 §4.1), aud = the tool server, scope = the one tool, a
// lifetime of minutes, signed ES256 as an RFC 9068 "at+jwt".
//
// The pieces, in the order a token lives through them:
//
//   - KeyRing: the ES256 signing keys, persisted one file per key in a
//     directory shared by the replicas, rotated with a propagation delay so
//     every upstream knows a key before anything is signed with it.
//   - Minter: Grant → signed token, no I/O on the call path.
//   - ExchangeHandler: the same minting behind an RFC 8693 token-exchange
//     endpoint, for callers outside the Envoy path.
//   - Verifier / Middleware: what an upstream resource server runs to
//     check an injected token offline against the published JWKS.
//   - RevocationList / IntrospectionHandler: minted tokens are verified
//     offline, so revocation is enforced by refusing to mint, by short
//     lifetimes, and by RFC 7662 introspection for upstreams that ask.
package mint
