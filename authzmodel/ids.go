package authzmodel

import "strings"

// maxObjectID is SpiceDB's limit on an object id, in bytes.
const maxObjectID = 1024

// ObjectID turns a registry or token identifier (a user subject, a group
// name, "<server>/<tool>") into a SpiceDB object id. SpiceDB ids allow only
// [a-zA-Z0-9/_|-=+]; subjects from an IdP are often emails or URLs. Every
// other byte, and '=' itself, becomes "=XX" (upper-case hex), so the mapping
// is injective, ids that need no escaping stay readable ("dr-alice",
// "ehr/read_chart"), and "alice@example.com" becomes "alice=40example=2Ecom".
// The result may exceed maxObjectID; SpiceDB refuses such ids and the caller
// fails closed.
func ObjectID(s string) string {
	if plainID(s) {
		return s // the common case: no allocation
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

func plainID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}

// plainByte reports whether c may appear unescaped: SpiceDB's id alphabet
// without '=', which is our escape character.
func plainByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '/' || c == '_' || c == '|' || c == '-' || c == '+'
}

// toolObjectID is the tool object's id: "<server>/<tool>", escaped. Server
// ids and MCP tool names cannot contain '/', so the pair is recoverable.
func toolObjectID(server, tool string) string {
	return ObjectID(server + "/" + tool)
}
