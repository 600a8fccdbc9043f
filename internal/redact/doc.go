// Package redact finds secrets and personal data in tool output and masks,
// hashes, drops or blocks them before the agent sees them. ext_proc calls it
// on every JSON-RPC response body and every SSE event; it imports no gRPC and
// no Envoy types.
//
// Detection:
//   - secrets: gitleaks' default rule set (its embedded TOML, decoded here
//     without viper) plus two ActionGate rules (URL userinfo passwords,
//     bearer tokens); exact matches of credentials the gateway brokered;
//   - PII, validated rather than pattern-matched: emails (structure and an
//     ICANN TLD), phone numbers (libphonenumber plans), payment cards (Luhn
//     and issuer ranges), IBANs (country length and mod-97), and national
//     identifiers (US SSN built in, others configurable).
//
// Cost is bounded: a keyword automaton finds where a rule could match, a
// prefilter derived from the rule's regex discards almost every keyword hit
// in a few bytes, and the regex then runs anchored on exactly the bytes a
// match can reach. What remains is charged to a per-body budget; when it
// runs out the policy blocks (fail closed) or reports the gap.
//
// Every decision depends only on the text, so a text fed in chunks split
// anywhere (Stream) gives the output and findings of the whole text
// (FuzzSplitInvariance holds it to that).
//
// Entry points: NewPolicy (once per policy revision), Policy.WithCredentials
// (per call), RedactJSONRPC / Policy.RedactMessage (JSON-RPC bodies and SSE
// event data), Policy.RedactText and Policy.NewStream (plain text).
// docs/redaction.md has the design and the evaluation.
package redact
