package signals

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

const (
	scimToken  = "scim-secret-abcdef0123"
	scimIssuer = "https://idp.test/oauth2/default"
)

type scimEnv struct {
	rec *recorder
	h   *SCIMHandler
	srv *httptest.Server
}

func newSCIMEnv(t *testing.T, mutate func(*SCIMConfig)) *scimEnv {
	t.Helper()
	rec := &recorder{}
	cfg := SCIMConfig{Name: "okta-scim", Prefix: "/scim/v2", BearerToken: scimToken, Issuer: scimIssuer, Revoker: rec, Auditor: rec}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewSCIMHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &scimEnv{rec: rec, h: h, srv: srv}
}

const (
	patchPathForm = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"active","value":false}]}`
	patchValueForm = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","value":{"active":false}}]}`
	// Entra ID's spelling: capitalised op, string boolean.
	patchEntraForm = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"Replace","path":"active","value":"False"}]}`
	patchActivate = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"active","value":true}]}`
	patchName = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"name.familyName","value":"Doe"}]}`
	putInactive = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"alice@example.com","externalId":"00u-alice","active":false}`
	putActive = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"alice@example.com","active":true}`
	postUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"frank@example.com","externalId":"00u-frank","active":true}`
)

func TestSCIMHandler_Requests(t *testing.T) {
	cases := []struct {
		name        string
		method      string
		path        string
		body        string
		bearer      string // "" → the configured token; "-" → none
		contentType string
		mutate      func(*SCIMConfig)
		wantStatus  int
		wantRevoke  *User
		wantEvent   string
		wantType    string // scimType of an error
		wantID      string // id of the returned User
		wantActive  *bool
	}{
		{name: "PATCH path form", method: "PATCH", path: "/Users/00u-alice", body: patchPathForm,
			wantStatus: 200, wantRevoke: &User{scimIssuer, "00u-alice"}, wantEvent: EventSCIMDeactivated, wantID: "00u-alice", wantActive: ptr(false)},
		{name: "PATCH value form", method: "PATCH", path: "/Users/00u-alice", body: patchValueForm,
			wantStatus: 200, wantRevoke: &User{scimIssuer, "00u-alice"}, wantEvent: EventSCIMDeactivated, wantID: "00u-alice", wantActive: ptr(false)},
		{name: "PATCH Entra form", method: "PATCH", path: "/Users/00u-alice", body: patchEntraForm, contentType: "application/json; charset=utf-8",
			wantStatus: 200, wantRevoke: &User{scimIssuer, "00u-alice"}, wantEvent: EventSCIMDeactivated, wantID: "00u-alice", wantActive: ptr(false)},
		{name: "PATCH id with an encoded slash", method: "PATCH", path: "/Users/auth0%7Cab%2Fc", body: patchPathForm,
			wantStatus: 200, wantRevoke: &User{scimIssuer, "auth0|ab/c"}, wantEvent: EventSCIMDeactivated, wantID: "auth0|ab/c", wantActive: ptr(false)},
		{name: "PATCH activate: acknowledged, no revocation", method: "PATCH", path: "/Users/00u-alice", body: patchActivate,
			wantStatus: 200, wantID: "00u-alice", wantActive: ptr(true)},
		{name: "PATCH other attribute: acknowledged", method: "PATCH", path: "/Users/00u-alice", body: patchName,
			wantStatus: 200, wantID: "00u-alice"},
		{name: "PUT active=false, externalId in the body names the subject", method: "PUT", path: "/Users/legacy-id-7", body: putInactive,
			wantStatus: 200, wantRevoke: &User{scimIssuer, "00u-alice"}, wantEvent: EventSCIMDeactivated, wantID: "legacy-id-7", wantActive: ptr(false)},
		{name: "PUT active=false, userName as the subject attribute", method: "PUT", path: "/Users/x", body: putInactive,
			mutate:     func(c *SCIMConfig) { c.SubjectAttribute = "userName" },
			wantStatus: 200, wantRevoke: &User{scimIssuer, "alice@example.com"}, wantEvent: EventSCIMDeactivated, wantID: "x", wantActive: ptr(false)},
		{name: "PUT active=true: acknowledged", method: "PUT", path: "/Users/00u-alice", body: putActive,
			wantStatus: 200, wantID: "00u-alice", wantActive: ptr(true)},
		{name: "DELETE", method: "DELETE", path: "/Users/00u-alice",
			wantStatus: 204, wantRevoke: &User{scimIssuer, "00u-alice"}, wantEvent: EventSCIMDeleted},
		{name: "POST hands out the subject as id", method: "POST", path: "/Users", body: postUser,
			wantStatus: 201, wantID: "00u-frank", wantActive: ptr(true)},
		{name: "POST without the subject attribute", method: "POST", path: "/Users", body: putActive,
			wantStatus: 400, wantType: scimInvalidValue},
		{name: "GET by id: minimal resource", method: "GET", path: "/Users/00u-alice", wantStatus: 200, wantID: "00u-alice"},
		{name: "no token", method: "PATCH", path: "/Users/00u-alice", body: patchPathForm, bearer: "-", wantStatus: 401},
		{name: "wrong token", method: "PATCH", path: "/Users/00u-alice", body: patchPathForm, bearer: "scim-secret-abcdef0124", wantStatus: 401},
		{name: "wrong token on DELETE", method: "DELETE", path: "/Users/00u-alice", bearer: "nope", wantStatus: 401},
		{name: "malformed JSON", method: "PATCH", path: "/Users/00u-alice", body: `{"schemas":`, wantStatus: 400, wantType: scimInvalidSyntax},
		{name: "PatchOp without schemas", method: "PATCH", path: "/Users/00u-alice",
			body: `{"Operations":[{"op":"replace","path":"active","value":false}]}`, wantStatus: 400, wantType: scimInvalidSyntax},
		{name: "unknown op", method: "PATCH", path: "/Users/00u-alice",
			body:       `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"delete","path":"active"}]}`,
			wantStatus: 400, wantType: scimInvalidSyntax},
		{name: "active not a boolean", method: "PATCH", path: "/Users/00u-alice",
			body:       `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":"no"}]}`,
			wantStatus: 400, wantType: scimInvalidValue},
		{name: "wrong content type", method: "PATCH", path: "/Users/00u-alice", body: patchPathForm, contentType: "text/plain",
			wantStatus: 400, wantType: scimInvalidSyntax},
		{name: "Groups not served", method: "GET", path: "/Groups", wantStatus: 404},
		{name: "nested path", method: "PATCH", path: "/Users/a/b", body: patchPathForm, wantStatus: 404},
		{name: "POST on a user", method: "POST", path: "/Users/00u-alice", body: postUser, wantStatus: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSCIMEnv(t, tc.mutate)
			bearer, ct := scimToken, "application/scim+json"
			if tc.bearer == "-" {
				bearer = ""
			} else if tc.bearer != "" {
				bearer = tc.bearer
			}
			if tc.contentType != "" {
				ct = tc.contentType
			}
			resp := do(t, tc.method, e.srv.URL+"/scim/v2"+tc.path, ct, bearer, tc.body)
			if resp.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.wantStatus, resp.raw)
			}
			if resp.status != 204 && resp.header.Get("Content-Type") != "application/scim+json" {
				t.Errorf("Content-Type %q", resp.header.Get("Content-Type"))
			}
			checkSCIMRevocation(t, e, tc.wantRevoke, tc.wantEvent)
			if resp.status >= 400 {
				checkSCIMError(t, e, resp, tc.wantType)
				return
			}
			if tc.wantID != "" {
				checkSCIMUser(t, resp, tc.wantID, tc.wantActive)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func checkSCIMRevocation(t *testing.T, e *scimEnv, want *User, event string) {
	t.Helper()
	revoked, accepted, _ := e.rec.snapshot()
	if want == nil {
		if len(revoked)+len(accepted) != 0 {
			t.Fatalf("unexpected revocation %+v", revoked)
		}
		return
	}
	if len(revoked) != 1 || len(accepted) != 1 {
		t.Fatalf("revoked %+v accepted %+v, want one of %v", revoked, accepted, *want)
	}
	r := revoked[0]
	if r.Target != *want || r.Source != SourceSCIM || r.EventType != event || r.Transmitter != "okta-scim" ||
		!strings.HasPrefix(r.EventID, "scim-") || r.OccurredAt.IsZero() || r.Reason == "" {
		t.Fatalf("revocation %+v", r)
	}
}

func checkSCIMError(t *testing.T, e *scimEnv, resp response, scimType string) {
	t.Helper()
	schemas, _ := resp.body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != schemaError {
		t.Errorf("error schemas %v", resp.body["schemas"])
	}
	if st, _ := resp.body["status"].(string); st != strconv.Itoa(resp.status) {
		t.Errorf("status member %v, want the string %d", resp.body["status"], resp.status)
	}
	if got, _ := resp.body["scimType"].(string); got != scimType {
		t.Errorf("scimType %q, want %q", got, scimType)
	}
	if resp.status == 401 && resp.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	_, _, rejected := e.rec.snapshot()
	if len(rejected) != 1 || rejected[0].Status != resp.status || rejected[0].Source != SourceSCIM || rejected[0].Code != scimType {
		t.Fatalf("auditor: %+v", rejected)
	}
	audit, _ := json.Marshal(rejected[0])
	if strings.Contains(string(audit), "scim-secret") {
		t.Errorf("token material in audit: %s", audit)
	}
}

func checkSCIMUser(t *testing.T, resp response, id string, active *bool) {
	t.Helper()
	if resp.body["id"] != id {
		t.Errorf("id %v, want %q", resp.body["id"], id)
	}
	schemas, _ := resp.body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != schemaUser {
		t.Errorf("schemas %v", resp.body["schemas"])
	}
	got, has := resp.body["active"].(bool)
	if (active == nil) == has || (active != nil && got != *active) {
		t.Errorf("active %v, want %v", resp.body["active"], active)
	}
	if resp.status == 201 && !strings.HasSuffix(resp.header.Get("Location"), "/scim/v2/Users/"+id) {
		t.Errorf("Location %q", resp.header.Get("Location"))
	}
}

// A failing Revoker is a 500 SCIM error (the IdP retries), never a 2xx.
func TestSCIMHandler_RevokerFailure(t *testing.T) {
	for _, tc := range []struct{ method, body string }{{"PATCH", patchPathForm}, {"PUT", putInactive}, {"DELETE", ""}} {
		t.Run(tc.method, func(t *testing.T) {
			e := newSCIMEnv(t, nil)
			e.rec.setFail(errors.New("spicedb unavailable"))
			resp := do(t, tc.method, e.srv.URL+"/scim/v2/Users/00u-alice", "application/scim+json", scimToken, tc.body)
			if resp.status != 500 || resp.body["status"] != "500" || resp.body["schemas"].([]any)[0] != schemaError {
				t.Fatalf("%d %s", resp.status, resp.raw)
			}
			_, accepted, rejected := e.rec.snapshot()
			if len(accepted) != 0 || len(rejected) != 1 || rejected[0].Target == nil || rejected[0].Target.Subject == "" ||
				!strings.Contains(rejected[0].Reason, "spicedb unavailable") {
				t.Fatalf("accepted %v rejected %+v", accepted, rejected)
			}
			if strings.Contains(resp.raw, "spicedb") {
				t.Errorf("internal error text in the response: %s", resp.raw)
			}
		})
	}
}

func TestSCIMHandler_ListFilter(t *testing.T) {
	e := newSCIMEnv(t, nil)
	cases := []struct {
		query     string
		status    int
		total     float64
		wantFirst string
	}{
		{`?filter=externalId+eq+%2200u-alice%22`, 200, 1, "00u-alice"},
		{`?filter=urn:ietf:params:scim:schemas:core:2.0:User:externalId+EQ+%2200u-alice%22`, 200, 1, "00u-alice"},
		{`?filter=userName+eq+%22alice@example.com%22`, 200, 0, ""},
		{``, 200, 0, ""},
		{`?filter=userName+sw+%22a%22`, 400, 0, ""},
	}
	for _, tc := range cases {
		resp := do(t, "GET", e.srv.URL+"/scim/v2/Users"+tc.query, "", scimToken, "")
		if resp.status != tc.status {
			t.Fatalf("%s: %d %s", tc.query, resp.status, resp.raw)
		}
		if tc.status != 200 {
			if resp.body["scimType"] != scimInvalidFilter {
				t.Errorf("%s: %s", tc.query, resp.raw)
			}
			continue
		}
		res, _ := resp.body["Resources"].([]any)
		if resp.body["totalResults"] != tc.total || len(res) != int(tc.total) {
			t.Fatalf("%s: %s", tc.query, resp.raw)
		}
		if tc.wantFirst != "" && res[0].(map[string]any)["id"] != tc.wantFirst {
			t.Errorf("%s: %s", tc.query, resp.raw)
		}
	}
	if revoked, _, _ := e.rec.snapshot(); len(revoked) != 0 {
		t.Fatalf("a read revoked: %v", revoked)
	}
}

func TestNewSCIMHandler_Config(t *testing.T) {
	rec := &recorder{}
	cases := []struct {
		name string
		cfg  SCIMConfig
	}{
		{"no token", SCIMConfig{Issuer: scimIssuer, Revoker: rec, Auditor: rec}},
		{"no issuer", SCIMConfig{BearerToken: "t", Revoker: rec, Auditor: rec}},
		{"no revoker", SCIMConfig{BearerToken: "t", Issuer: scimIssuer, Auditor: rec}},
		{"bad subject attribute", SCIMConfig{BearerToken: "t", Issuer: scimIssuer, Revoker: rec, Auditor: rec, SubjectAttribute: "id"}},
	}
	for _, tc := range cases {
		if _, err := NewSCIMHandler(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
