// Package mcp reads MCP JSON-RPC messages the way a policy engine must: one
// interpretation only. Any request two parsers could read differently is
// refused with its own Problem rather than guessed at: duplicate keys
// anywhere, case variants of protocol keys (Go's encoding/json matches
// struct fields case-insensitively, a strict server does not), batches,
// trailing data, invalid UTF-8, a byte order mark, deep nesting, ids a
// JavaScript client would read as another number, and, over Streamable
// HTTP, mirror headers (Mcp-Method, Mcp-Name, MCP-Protocol-Version) that
// disagree with the body, so a header saying read_file cannot carry a body
// calling delete_repo.
//
// Parse reads a body alone; ParseRequest reads a POST of MCP revisions
// 2025-06-18, 2025-11-25 or 2026-07-28 with its headers, and decides the
// revision. Both run one single-pass scanner (scanner.go) and read the few
// fields a decision needs from recorded spans, so parsing a typical
// tools/call costs a handful of allocations.
//
// The package also builds the MCP-shaped error bodies the gateway answers
// with and reassembles SSE streams. It imports no gRPC and no Envoy types:
// the decision core and replay call it.
package mcp
