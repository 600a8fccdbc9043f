package signals

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testPolicy() setPolicy {
	return setPolicy{issuer: testIssuer, audience: testAudience, algs: sigAlgs(asymmetricAlgs),
		maxAge: 24 * time.Hour, leeway: time.Minute}
}

// failureCode is the RFC 8935 code (or "503") an error maps to; "" for nil.
func failureCode(err error) string {
	if err == nil {
		return ""
	}
	var f *failure
	if !errors.As(err, &f) {
		return "not-a-failure"
	}
	if f.status >= 500 {
		return "503"
	}
	return f.code
}

func TestSetPolicy_CheckHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		h      setHeader
		legacy bool
		want   string
	}{
		{"ES256 secevent+jwt", setHeader{Alg: "ES256", Typ: "secevent+jwt"}, false, ""},
		{"full media type, any case", setHeader{Alg: "RS256", Typ: "Application/SecEvent+JWT"}, false, ""},
		{"EdDSA", setHeader{Alg: "EdDSA", Typ: "secevent+jwt"}, false, ""},
		{"none", setHeader{Alg: "none", Typ: "secevent+jwt"}, false, ErrCodeInvalidKey},
		{"None", setHeader{Alg: "None", Typ: "secevent+jwt"}, false, ErrCodeInvalidKey},
		{"no alg", setHeader{Typ: "secevent+jwt"}, false, ErrCodeInvalidKey},
		{"HS256", setHeader{Alg: "HS256", Typ: "secevent+jwt"}, false, ErrCodeInvalidKey},
		{"hs512 lower case", setHeader{Alg: "hs512", Typ: "secevent+jwt"}, false, ErrCodeInvalidKey},
		{"unknown alg", setHeader{Alg: "ES256K", Typ: "secevent+jwt"}, false, ErrCodeInvalidKey},
		{"typ JWT", setHeader{Alg: "ES256", Typ: "JWT"}, false, ErrCodeInvalidRequest},
		{"typ JWT even with legacy", setHeader{Alg: "ES256", Typ: "JWT"}, true, ErrCodeInvalidRequest},
		{"typ at+jwt", setHeader{Alg: "ES256", Typ: "at+jwt"}, false, ErrCodeInvalidRequest},
		{"no typ", setHeader{Alg: "ES256"}, false, ErrCodeInvalidRequest},
		{"no typ, legacy", setHeader{Alg: "ES256"}, true, ""},
		{"crit", setHeader{Alg: "ES256", Typ: "secevent+jwt", Crit: json.RawMessage(`["b64"]`)}, false, ErrCodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testPolicy()
			p.legacy = tc.legacy
			if got := failureCode(p.checkHeader(tc.h)); got != tc.want {
				t.Fatalf("checkHeader(%+v) = %q, want %q", tc.h, got, tc.want)
			}
		})
	}
}

func TestSetPolicy_CheckClaims(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	valid := func() map[string]any {
		return map[string]any{"iss": testIssuer, "aud": testAudience, "iat": now.Unix(), "jti": "j1",
			"events": map[string]any{EventSessionRevoked: map[string]any{}}}
	}
	cases := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"aud array", func(c map[string]any) { c["aud"] = []string{"x", testAudience} }, ""},
		{"iat at the edge of maxAge", func(c map[string]any) { c["iat"] = now.Add(-24 * time.Hour).Unix() }, ""},
		{"iat within leeway ahead", func(c map[string]any) { c["iat"] = now.Add(30 * time.Second).Unix() }, ""},
		{"exp in the future", func(c map[string]any) { c["exp"] = now.Add(time.Minute).Unix() }, ""},
		{"wrong iss", func(c map[string]any) { c["iss"] = testIssuer + "/" }, ErrCodeInvalidIssuer},
		{"iss not a string", func(c map[string]any) { c["iss"] = 7 }, ErrCodeInvalidRequest},
		{"no iss", func(c map[string]any) { delete(c, "iss") }, ErrCodeInvalidIssuer},
		{"wrong aud", func(c map[string]any) { c["aud"] = "x" }, ErrCodeInvalidAudience},
		{"aud wrong type", func(c map[string]any) { c["aud"] = 1 }, ErrCodeInvalidRequest},
		{"iat too old", func(c map[string]any) { c["iat"] = now.Add(-24*time.Hour - time.Second).Unix() }, ErrCodeInvalidRequest},
		{"iat ahead", func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }, ErrCodeInvalidRequest},
		{"iat string", func(c map[string]any) { c["iat"] = "now" }, ErrCodeInvalidRequest},
		{"iat negative", func(c map[string]any) { c["iat"] = -1 }, ErrCodeInvalidRequest},
		{"exp passed", func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }, ErrCodeInvalidRequest},
		{"jti empty", func(c map[string]any) { c["jti"] = "" }, ErrCodeInvalidRequest},
		{"jti too long", func(c map[string]any) { c["jti"] = strings.Repeat("j", 257) }, ErrCodeInvalidRequest},
		{"jti number", func(c map[string]any) { c["jti"] = 5 }, ErrCodeInvalidRequest},
		{"events null", func(c map[string]any) { c["events"] = nil }, ErrCodeInvalidRequest},
		{"events array", func(c map[string]any) { c["events"] = []any{} }, ErrCodeInvalidRequest},
		{"event payload not an object", func(c map[string]any) { c["events"] = map[string]any{"x": "y"} }, ErrCodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tc.edit(c)
			raw, _ := json.Marshal(c)
			var claims map[string]json.RawMessage
			if err := json.Unmarshal(raw, &claims); err != nil {
				t.Fatal(err)
			}
			got, err := testPolicy().checkClaims(claims, now)
			if code := failureCode(err); code != tc.want {
				t.Fatalf("checkClaims = %q (%v), want %q", code, err, tc.want)
			}
			if err == nil && (got.jti != c["jti"] || got.iss != testIssuer || len(got.events) == 0) {
				t.Fatalf("claims %+v", got)
			}
		})
	}
}

func TestDecodeSET(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "a", "a.b", "a.b.c.d", ".e30.", "e30..", "!!.e30.x", "e30.!!.x", "e30.W10.x", "e30.bnVsbA.x"} {
		if _, err := decodeSET(raw); failureCode(err) != ErrCodeInvalidRequest {
			t.Errorf("decodeSET(%q) = %v, want invalid_request", raw, err)
		}
	}
	s, err := decodeSET("eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJqMSJ9.sig")
	if err != nil || s.header.Alg != "ES256" || s.jti() != "j1" {
		t.Fatalf("decodeSET = %+v, %v", s, err)
	}
}

func TestPlanEvents(t *testing.T) {
	t.Parallel()
	iat := time.Unix(1_800_000_000, 0)
	issSub := json.RawMessage(`{"format":"iss_sub","iss":"https://idp.test","sub":"alice"}`)
	cases := []struct {
		name        string
		subID       json.RawMessage
		events      string
		wantPlans   int
		wantIgnored int
		wantReason  string
		wantTime    time.Time
		wantErr     string
	}{
		{name: "session-revoked with reason_admin", subID: issSub,
			events:    `{"` + EventSessionRevoked + `":{"reason_admin":{"en":"Left\nthe company"},"event_timestamp":1799999990}}`,
			wantPlans: 1, wantReason: "ssf session-revoked: Leftthe company", wantTime: time.Unix(1799999990, 0)},
		{name: "reason_admin in another language only", subID: issSub,
			events:    `{"` + EventSessionRevoked + `":{"reason_admin":{"de":"Ausgeschieden"}}}`,
			wantPlans: 1, wantReason: "ssf session-revoked: Ausgeschieden", wantTime: iat},
		{name: "every revoking type", subID: issSub,
			events: `{"` + EventSessionRevoked + `":{},"` + EventAccountDisabled + `":{},"` + EventAccountPurged + `":{},"` +
				EventCredentialCompromise + `":{},"` + EventRISCSessionsRevoked + `":{}}`,
			wantPlans: 5, wantReason: "ssf session-revoked", wantTime: iat}, // sorted: caep before risc
		{name: "only unknown types", events: `{"urn:x":{},"urn:y":{}}`, wantIgnored: 2},
		{name: "account-enabled is not a revocation", subID: issSub,
			events: `{"https://schemas.openid.net/secevent/risc/event-type/account-enabled":{}}`, wantIgnored: 1},
		{name: "no subject anywhere", events: `{"` + EventAccountDisabled + `":{}}`, wantErr: ErrCodeInvalidRequest},
		{name: "event subject matches sub_id", subID: issSub,
			events:    `{"` + EventAccountDisabled + `":{"subject":{"sub":"alice","iss":"https://idp.test","format":"iss_sub"}}}`,
			wantPlans: 1, wantReason: "ssf account-disabled", wantTime: iat},
		{name: "event subject differs from sub_id", subID: issSub,
			events: `{"` + EventAccountDisabled + `":{"subject":{"format":"email","email":"a@b"}}}`, wantErr: ErrCodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := setClaims{iss: testIssuer, jti: "j", iat: iat, subID: tc.subID}
			if err := json.Unmarshal([]byte(tc.events), &c.events); err != nil {
				t.Fatal(err)
			}
			plans, ignored, err := planEvents(c, false)
			if code := failureCode(err); code != tc.wantErr {
				t.Fatalf("err %q (%v), want %q", code, err, tc.wantErr)
			}
			if len(plans) != tc.wantPlans || len(ignored) != tc.wantIgnored {
				t.Fatalf("plans %d ignored %d, want %d %d", len(plans), len(ignored), tc.wantPlans, tc.wantIgnored)
			}
			if len(plans) > 0 && (plans[0].reason != tc.wantReason || !plans[0].occurredAt.Equal(tc.wantTime)) {
				t.Fatalf("plan %+v", plans[0])
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"  plain  ", 10, "plain"},
		{"a\x00b\x1bc\u0085d", 10, "abcd"},
		{"héllo", 2, "h"}, // never split a rune
		{"héllo", 3, "hé"},
	}
	for _, tc := range cases {
		if got := sanitize(tc.in, tc.n); got != tc.want {
			t.Errorf("sanitize(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
