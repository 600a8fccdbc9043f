package signals

import (
	"testing"
)

func patchOps(ops string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`
}

func TestParsePatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		body       string
		deactivate bool
		active     *bool
		externalID string
		err        string // scimType
	}{
		{name: "replace path active false", body: patchOps(`{"op":"replace","path":"active","value":false}`), deactivate: true, active: ptr(false)},
		{name: "replace value object", body: patchOps(`{"op":"replace","value":{"active":false}}`), deactivate: true, active: ptr(false)},
		{name: "add counts as set", body: patchOps(`{"op":"add","path":"active","value":false}`), deactivate: true, active: ptr(false)},
		{name: "op and attribute names in any case", body: patchOps(`{"Op":"REPLACE","Path":"Active","Value":false}`), deactivate: true, active: ptr(false)},
		{name: "value object key in any case", body: patchOps(`{"op":"Replace","value":{"ACTIVE":false}}`), deactivate: true, active: ptr(false)},
		{name: "string False", body: patchOps(`{"op":"Replace","path":"active","value":"False"}`), deactivate: true, active: ptr(false)},
		{name: "full URN path", body: patchOps(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:active","value":false}`), deactivate: true, active: ptr(false)},
		{name: "operations key in lower case", body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"op":"replace","path":"active","value":false}]}`, deactivate: true, active: ptr(false)},
		{name: "last write wins: false then true", body: patchOps(`{"op":"replace","path":"active","value":false},{"op":"replace","path":"active","value":true}`), active: ptr(true)},
		{name: "true then false", body: patchOps(`{"op":"replace","path":"active","value":true},{"op":"replace","value":{"active":false}}`), deactivate: true, active: ptr(false)},
		{name: "remove active is not a deactivation", body: patchOps(`{"op":"replace","path":"active","value":false},{"op":"remove","path":"active"}`)},
		{name: "activate", body: patchOps(`{"op":"replace","path":"active","value":true}`), active: ptr(true)},
		{name: "externalId and active together", body: patchOps(`{"op":"replace","value":{"externalId":"00u1","active":false,"displayName":"A"}}`), deactivate: true, active: ptr(false), externalID: "00u1"},
		{name: "filtered path ignored", body: patchOps(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"a@b"}`)},
		{name: "not JSON", body: `{`, err: scimInvalidSyntax},
		{name: "array body", body: `[]`, err: scimInvalidSyntax},
		{name: "no schemas", body: `{"Operations":[{"op":"replace","path":"active","value":false}]}`, err: scimInvalidSyntax},
		{name: "User schema instead of PatchOp", body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"replace","path":"active","value":false}]}`, err: scimInvalidSyntax},
		{name: "no operations", body: patchOps(``), err: scimInvalidSyntax},
		{name: "operation not an object", body: patchOps(`"replace"`), err: scimInvalidSyntax},
		{name: "op missing", body: patchOps(`{"path":"active","value":false}`), err: scimInvalidSyntax},
		{name: "op unknown", body: patchOps(`{"op":"move","path":"active","value":false}`), err: scimInvalidSyntax},
		{name: "op not a string", body: patchOps(`{"op":1}`), err: scimInvalidSyntax},
		{name: "replace without value", body: patchOps(`{"op":"replace","path":"active"}`), err: scimInvalidValue},
		{name: "path-less replace with a scalar", body: patchOps(`{"op":"replace","value":false}`), err: scimInvalidValue},
		{name: "active is a number", body: patchOps(`{"op":"replace","path":"active","value":0}`), err: scimInvalidValue},
		{name: "active is null", body: patchOps(`{"op":"replace","path":"active","value":null}`), err: scimInvalidValue},
		{name: "remove without path", body: patchOps(`{"op":"remove"}`), err: scimNoTarget},
		{name: "active twice with different case", body: patchOps(`{"op":"replace","value":{"active":true,"Active":false}}`), err: scimInvalidSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, serr := parsePatch([]byte(tc.body))
			checkChange(t, c, serr, tc.err, tc.deactivate, tc.active)
			if serr == nil && c.externalID != tc.externalID {
				t.Errorf("externalId %q, want %q", c.externalID, tc.externalID)
			}
		})
	}
}

func checkChange(t *testing.T, c userChange, serr *scimError, wantErr string, deactivate bool, active *bool) {
	t.Helper()
	if serr != nil {
		if serr.scimType != wantErr || serr.status != 400 {
			t.Fatalf("error %+v, want scimType %q", serr, wantErr)
		}
		return
	}
	if wantErr != "" {
		t.Fatalf("accepted, want %q", wantErr)
	}
	if c.deactivates() != deactivate {
		t.Errorf("deactivates = %v, want %v", c.deactivates(), deactivate)
	}
	if (c.active == nil) != (active == nil) || (active != nil && *c.active != *active) {
		t.Errorf("active %v, want %v", c.active, active)
	}
}

func TestParseUser(t *testing.T) {
	t.Parallel()
	const u = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`
	cases := []struct {
		name       string
		body       string
		deactivate bool
		active     *bool
		err        string
	}{
		{name: "inactive", body: `{` + u + `,"userName":"a","active":false}`, deactivate: true, active: ptr(false)},
		{name: "active", body: `{` + u + `,"userName":"a","active":true}`, active: ptr(true)},
		{name: "no active", body: `{` + u + `,"userName":"a"}`},
		{name: "string false", body: `{` + u + `,"active":"false"}`, deactivate: true, active: ptr(false)},
		{name: "no schemas", body: `{"active":false}`, err: scimInvalidSyntax},
		{name: "schemas not an array", body: `{"schemas":"urn:ietf:params:scim:schemas:core:2.0:User","active":false}`, err: scimInvalidSyntax},
		{name: "active wrong type", body: `{` + u + `,"active":[]}`, err: scimInvalidValue},
		{name: "userName wrong type", body: `{` + u + `,"userName":5}`, err: scimInvalidValue},
		{name: "duplicate folded attribute", body: `{` + u + `,"active":false,"ACTIVE":true}`, err: scimInvalidSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, serr := parseUser([]byte(tc.body))
			checkChange(t, c, serr, tc.err, tc.deactivate, tc.active)
		})
	}
}

func TestParseEqFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, attr, value string
		ok              bool
	}{
		{`userName eq "alice@example.com"`, "userName", "alice@example.com", true},
		{`externalId EQ "00u1"`, "externalId", "00u1", true},
		{`displayName eq "Ann Lee"`, "displayName", "Ann Lee", true},
		{`userName eq "a\"b"`, "userName", `a"b`, true},
		{`userName eq alice`, "", "", false},
		{`userName sw "a"`, "", "", false},
		{`userName eq "a" and active eq true`, "", "", false},
		{`userName`, "", "", false},
	}
	for _, tc := range cases {
		attr, value, serr := parseEqFilter(tc.in)
		if (serr == nil) != tc.ok || attr != tc.attr || value != tc.value {
			t.Errorf("parseEqFilter(%q) = %q %q %v", tc.in, attr, value, serr)
		}
		if serr != nil && serr.scimType != scimInvalidFilter {
			t.Errorf("scimType %q", serr.scimType)
		}
	}
}
