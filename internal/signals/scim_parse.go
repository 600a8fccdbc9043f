package signals

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// SCIM schema URNs (RFC 7643 §8.7.1, RFC 7644 §3.5.2, §3.12, §3.4.2).
const (
	schemaUser    = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError   = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaList    = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
)

// SCIM error types (RFC 7644 §3.12, Table 9).
const (
	scimInvalidSyntax = "invalidSyntax"
	scimInvalidValue  = "invalidValue"
	scimInvalidFilter = "invalidFilter"
	scimNoTarget      = "noTarget"
)

// maxPatchOps bounds the operations in one PatchOp.
const maxPatchOps = 1000

// scimError is an RFC 7644 §3.12 error: status, optional scimType, detail.
type scimError struct {
	status   int
	scimType string
	detail   string
}

func (e *scimError) Error() string { return e.detail }

func badSCIM(scimType, detail string) *scimError {
	return &scimError{status: http.StatusBadRequest, scimType: scimType, detail: detail}
}

// userChange is what a PATCH, PUT or POST body says about a user, as far
// as revocation cares.
type userChange struct {
	// active is the value active ends up with after the request; nil when
	// the request does not set it.
	active *bool
	// userName and externalId as given in the body ("" when absent).
	userName, externalID string
}

// deactivates reports whether the request leaves the user inactive.
func (c userChange) deactivates() bool { return c.active != nil && !*c.active }

// attribute returns the body's value of the SCIM attribute name
// ("userName" or "externalId"), "" when absent.
func (c userChange) attribute(name string) string {
	switch name {
	case attrUserName:
		return c.userName
	case attrExternalID:
		return c.externalID
	}
	return ""
}

// parsePatch reads an RFC 7644 §3.5.2 PatchOp. Operation names and
// attribute paths compare case-insensitively (RFC 7644 §3.5.2, RFC 7643
// §2.1). active may be set by path ("path":"active") or by a path-less
// value object ({"active":false}); a string "False" is accepted as well,
// as some IdPs send it. Paths other than active, userName and externalId
// are accepted and ignored: the gateway keeps no user store.
func parsePatch(body []byte) (userChange, *scimError) {
	obj, serr := decodeObject(body)
	if serr != nil {
		return userChange{}, serr
	}
	if serr := requireSchema(obj, schemaPatchOp); serr != nil {
		return userChange{}, serr
	}
	var ops []map[string]json.RawMessage
	raw, _ := lookupFold(obj, "Operations")
	if err := json.Unmarshal(raw, &ops); err != nil || len(ops) == 0 {
		return userChange{}, badSCIM(scimInvalidSyntax, "Operations must be a non-empty array of objects")
	}
	if len(ops) > maxPatchOps {
		return userChange{}, badSCIM(scimInvalidSyntax, "too many Operations")
	}
	var c userChange
	for i, op := range ops {
		if op == nil {
			return userChange{}, badSCIM(scimInvalidSyntax, "an operation is not an object")
		}
		if serr := applyOp(&c, op); serr != nil {
			serr.detail = "Operations[" + strconv.Itoa(i) + "]: " + serr.detail
			return userChange{}, serr
		}
	}
	return c, nil
}

func applyOp(c *userChange, op map[string]json.RawMessage) *scimError {
	name, ok := stringFold(op, "op")
	if !ok {
		return badSCIM(scimInvalidSyntax, "op must be a string")
	}
	path, ok := stringFold(op, "path")
	if !ok {
		return badSCIM(scimInvalidSyntax, "path must be a string")
	}
	value, hasValue := lookupFold(op, "value")
	switch strings.ToLower(name) {
	case "remove":
		if path == "" {
			return badSCIM(scimNoTarget, "remove needs a path")
		}
		if strings.EqualFold(trimCorePrefix(path), attrActive) {
			c.active = nil // unset: not a deactivation
		}
		return nil
	case "add", "replace":
		if !hasValue {
			return badSCIM(scimInvalidValue, name+" needs a value")
		}
		if path == "" {
			var attrs map[string]json.RawMessage
			if err := json.Unmarshal(value, &attrs); err != nil || attrs == nil {
				return badSCIM(scimInvalidValue, name+" without a path needs an object value")
			}
			return setAttributes(c, attrs)
		}
		return setAttribute(c, trimCorePrefix(path), value)
	default:
		return badSCIM(scimInvalidSyntax, "op must be add, remove or replace")
	}
}

// parseUser reads a full User resource (PUT, POST).
func parseUser(body []byte) (userChange, *scimError) {
	obj, serr := decodeObject(body)
	if serr != nil {
		return userChange{}, serr
	}
	if serr := requireSchema(obj, schemaUser); serr != nil {
		return userChange{}, serr
	}
	var c userChange
	if serr := setAttributes(&c, obj); serr != nil {
		return userChange{}, serr
	}
	return c, nil
}

const (
	attrActive     = "active"
	attrUserName   = "userName"
	attrExternalID = "externalId"
)

// setAttributes applies a resource or a path-less value object. The same
// attribute spelled twice ("active" and "Active") is refused: which one
// wins would depend on map order.
func setAttributes(c *userChange, attrs map[string]json.RawMessage) *scimError {
	seen := make(map[string]bool, 3)
	for k, v := range attrs {
		name := strings.ToLower(trimCorePrefix(k))
		if seen[name] {
			return badSCIM(scimInvalidSyntax, "attribute "+name+" appears more than once")
		}
		seen[name] = true
		if serr := setAttribute(c, name, v); serr != nil {
			return serr
		}
	}
	return nil
}

// setAttribute records the attributes revocation cares about.
func setAttribute(c *userChange, name string, v json.RawMessage) *scimError {
	switch {
	case strings.EqualFold(name, attrActive):
		b, ok := scimBool(v)
		if !ok {
			return badSCIM(scimInvalidValue, "active must be a boolean")
		}
		c.active = &b
	case strings.EqualFold(name, attrUserName):
		if !jsonString(v, &c.userName) {
			return badSCIM(scimInvalidValue, "userName must be a string")
		}
	case strings.EqualFold(name, attrExternalID):
		if !jsonString(v, &c.externalID) {
			return badSCIM(scimInvalidValue, "externalId must be a string")
		}
	}
	return nil
}

// scimBool accepts a JSON boolean, or "true"/"false" in any case. null is
// refused: encoding/json would decode it as false, a revocation nobody asked for.
func scimBool(v json.RawMessage) (bool, bool) {
	if strings.TrimSpace(string(v)) == "null" {
		return false, false
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func jsonString(v json.RawMessage, dst *string) bool {
	if string(v) == "null" {
		*dst = ""
		return true
	}
	return json.Unmarshal(v, dst) == nil && len(*dst) <= maxIdentifierLen
}

// trimCorePrefix turns "urn:…:core:2.0:User:active" into "active".
func trimCorePrefix(path string) string {
	if len(path) > len(schemaUser)+1 && strings.EqualFold(path[:len(schemaUser)+1], schemaUser+":") {
		return path[len(schemaUser)+1:]
	}
	return path
}

func decodeObject(body []byte) (map[string]json.RawMessage, *scimError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, badSCIM(scimInvalidSyntax, "body is not a JSON object")
	}
	return obj, nil
}

func requireSchema(obj map[string]json.RawMessage, want string) *scimError {
	var schemas []string
	raw, _ := lookupFold(obj, "schemas")
	if json.Unmarshal(raw, &schemas) != nil {
		return badSCIM(scimInvalidSyntax, "schemas must be an array of strings containing "+want)
	}
	for _, s := range schemas {
		if strings.EqualFold(s, want) {
			return nil
		}
	}
	return badSCIM(scimInvalidSyntax, "schemas must contain "+want)
}

// lookupFold finds a member by case-insensitive name (RFC 7643 §2.1);
// an exact match wins over a folded one.
func lookupFold(obj map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// stringFold reads an optional string member; ok is false for a non-string.
func stringFold(obj map[string]json.RawMessage, name string) (string, bool) {
	raw, present := lookupFold(obj, name)
	if !present || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
