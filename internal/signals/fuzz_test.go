package signals

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// FuzzSETClaims feeds arbitrary claims through every check a SET passes
// before its signature and the event planning after it. Whatever is
// accepted must have the properties the receiver relies on.
func FuzzSETClaims(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add([]byte(`{"iss":"https://idp.test","aud":"https://gateway.test/ssf","iat":1800000000,"jti":"j",
		"sub_id":{"format":"iss_sub","iss":"https://idp.test","sub":"a"},
		"events":{"https://schemas.openid.net/secevent/caep/event-type/session-revoked":{}}}`))
	f.Add([]byte(`{"iss":"https://idp.test","aud":["https://gateway.test/ssf"],"iat":1800000000.5,"jti":"j",
		"events":{"https://schemas.openid.net/secevent/risc/event-type/account-disabled":{"subject":{"format":"aliases","identifiers":[{"format":"email","email":"a@b"}]}}}}`))
	f.Add([]byte(`{"iss":"https://idp.test","aud":"https://gateway.test/ssf","iat":1800000000,"jti":"j",
		"sub_id":{"format":"complex","user":{"format":"opaque","id":"u"}},"events":{"urn:x":{}}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		raw := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"secevent+jwt"}`)) + "." +
			base64.RawURLEncoding.EncodeToString(payload) + ".sig"
		set, err := decodeSET(raw)
		if err != nil {
			return
		}
		_ = set.jti()
		p := testPolicy()
		c, err := p.checkClaims(set.claims, now)
		if err != nil {
			if failureCode(err) == "not-a-failure" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if c.jti == "" || c.iss != testIssuer || len(c.events) == 0 || c.iat.After(now.Add(p.leeway)) {
			t.Fatalf("accepted claims break invariants: %+v", c)
		}
		plans, ignored, err := planEvents(c, true)
		if err != nil {
			return
		}
		if len(plans)+len(ignored) != len(c.events) {
			t.Fatalf("%d plans + %d ignored for %d events", len(plans), len(ignored), len(c.events))
		}
		for _, pl := range plans {
			if _, ok := revokingEvents[pl.eventType]; !ok || pl.subject.Format == "" || len(pl.reason) > 300 {
				t.Fatalf("bad plan %+v", pl)
			}
		}
	})
}

// FuzzParsePatch: no panic, and a deactivation is exactly "active ends false".
func FuzzParsePatch(f *testing.F) {
	f.Add([]byte(patchPathForm))
	f.Add([]byte(patchValueForm))
	f.Add([]byte(patchEntraForm))
	f.Add([]byte(putInactive))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) (userChange, *scimError){parsePatch, parseUser} {
			c, serr := parse(body)
			if serr != nil {
				if serr.status != 400 || serr.detail == "" {
					t.Fatalf("bad error %+v", serr)
				}
				continue
			}
			if c.deactivates() != (c.active != nil && !*c.active) {
				t.Fatal("deactivates disagrees with active")
			}
			if !json.Valid(body) {
				t.Fatal("accepted invalid JSON")
			}
		}
	})
}

func FuzzParseEqFilter(f *testing.F) {
	f.Add(`userName eq "a"`)
	f.Add(`externalId   EQ   "x y"`)
	f.Fuzz(func(t *testing.T, in string) {
		attr, _, serr := parseEqFilter(in)
		if serr == nil && attr == "" {
			t.Fatalf("accepted %q with no attribute", in)
		}
	})
}
