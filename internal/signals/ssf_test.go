package signals

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestSSFReceiver_Revokes(t *testing.T) {
	tx := newTransmitter(t)
	cases := []struct {
		name    string
		mutate  func(*SSFConfig)
		kid     string
		edit    func(c map[string]any)
		hdr     map[jose.HeaderKey]any
		want    []User
		evType  string
		reason  string
		ignored int64
	}{
		{
			name: "CAEP session-revoked, ES256, top-level iss_sub", kid: "ec-1",
			want: []User{{testIssuer, "alice"}}, evType: EventSessionRevoked, reason: "ssf session-revoked: Offboarded",
		},
		{
			name: "RISC account-disabled, RS256, email in the event's subject", kid: "rsa-1",
			edit: func(c map[string]any) {
				delete(c, "sub_id")
				c["events"] = map[string]any{EventAccountDisabled: map[string]any{
					"subject": map[string]any{"format": "email", "email": "bob@example.com"}, "reason": "hijacking"}}
			},
			want: []User{{testIssuer, "bob"}}, evType: EventAccountDisabled, reason: "ssf account-disabled: hijacking",
		},
		{
			name: "account-purged, complex subject with a session", kid: "ec-1",
			edit: func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "complex",
					"user":    map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "carol"},
					"session": map[string]any{"format": "opaque", "id": "sess-1"}}
				c["events"] = map[string]any{EventAccountPurged: map[string]any{}}
			},
			want: []User{{testIssuer, "carol"}}, evType: EventAccountPurged, reason: "ssf account-purged",
		},
		{
			name: "credential-compromise, opaque subject paired with the configured issuer", kid: "ec-1",
			mutate: func(c *SSFConfig) { c.Transmitter.OpaqueIssuer = "https://idp.test/oauth2/default" },
			edit: func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "opaque", "id": "00u123"}
				c["events"] = map[string]any{EventCredentialCompromise: map[string]any{"credential_type": "password"}}
			},
			want: []User{{"https://idp.test/oauth2/default", "00u123"}}, evType: EventCredentialCompromise, reason: "ssf credential-compromise",
		},
		{
			name: "iss_sub naming an authorization server listed in SubjectIssuers", kid: "ec-1",
			mutate: func(c *SSFConfig) {
				c.Transmitter.SubjectIssuers = []string{testIssuer, "https://idp.test/oauth2/default"}
			},
			edit: func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "iss_sub", "iss": "https://idp.test/oauth2/default", "sub": "dave"}
			},
			want: []User{{"https://idp.test/oauth2/default", "dave"}}, evType: EventSessionRevoked, reason: "ssf session-revoked: Offboarded",
		},
		{
			name: "aliases: an unreadable phone number is skipped, the email resolves", kid: "ec-1",
			edit: func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "aliases", "identifiers": []any{
					map[string]any{"format": "phone_number", "phone_number": "+12065550100"},
					map[string]any{"format": "email", "email": "bob@example.com"}}}
			},
			want: []User{{testIssuer, "bob"}}, evType: EventSessionRevoked, reason: "ssf session-revoked: Offboarded",
		},
		{
			name: "legacy transmitter: no typ, RISC draft subject_type", kid: "ec-1",
			mutate: func(c *SSFConfig) { c.Transmitter.Legacy = true },
			hdr:    map[jose.HeaderKey]any{jose.HeaderType: nil},
			edit: func(c map[string]any) {
				delete(c, "sub_id")
				c["events"] = map[string]any{EventAccountDisabled: map[string]any{
					"subject": map[string]any{"subject_type": "iss-sub", "iss": testIssuer, "sub": "erin"}}}
			},
			want: []User{{testIssuer, "erin"}}, evType: EventAccountDisabled, reason: "ssf account-disabled",
		},
		{
			name: "a revoking event next to an unknown one: one revocation, one ignored", kid: "ec-1",
			edit: func(c map[string]any) {
				ev := c["events"].(map[string]any)
				ev["https://schemas.openid.net/secevent/caep/event-type/device-compliance-change"] = map[string]any{"current_status": "not-compliant"}
			},
			want: []User{{testIssuer, "alice"}}, evType: EventSessionRevoked, reason: "ssf session-revoked: Offboarded", ignored: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSFEnv(t, tx, tc.mutate)
			c := tx.claims()
			if tc.edit != nil {
				tc.edit(c)
			}
			resp := e.push(t, sign(t, tx.key(tc.kid), c, tc.hdr))
			if resp.status != http.StatusAccepted {
				t.Fatalf("status %d, body %s", resp.status, resp.raw)
			}
			revoked, accepted, rejected := e.rec.snapshot()
			if len(rejected) != 0 {
				t.Fatalf("rejections: %+v", rejected)
			}
			if len(revoked) != len(tc.want) || len(accepted) != len(tc.want) {
				t.Fatalf("revoked %+v accepted %+v, want %v", revoked, accepted, tc.want)
			}
			for i, want := range tc.want {
				got := revoked[i]
				if got.Target != want || got.EventType != tc.evType || got.EventID != c["jti"] ||
					got.Source != SourceSSF || got.Transmitter != "test-idp" || got.Reason != tc.reason {
					t.Errorf("revoked[%d] = %+v, want target %v type %s reason %q", i, got, want, tc.evType, tc.reason)
				}
				if got.OccurredAt.IsZero() || time.Since(got.OccurredAt) > time.Minute {
					t.Errorf("OccurredAt %v", got.OccurredAt)
				}
			}
			if st := e.rcv.Stats(); st.Accepted != int64(len(tc.want)) || st.IgnoredEvents != tc.ignored {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// rejectCase builds one refused delivery.
type rejectCase struct {
	name        string
	mutate      func(*SSFConfig)
	build       func(t *testing.T, tx *transmitter, c map[string]any) string
	contentType string // default application/secevent+jwt
	bearer      string // default the configured token; "-" sends none
	method      string
	wantStatus  int
	wantErr     string
	wantJTI     bool // the rejection names the SET's jti
}

func signWith(kid string, edit func(map[string]any)) func(*testing.T, *transmitter, map[string]any) string {
	return func(t *testing.T, tx *transmitter, c map[string]any) string {
		if edit != nil {
			edit(c)
		}
		return sign(t, tx.key(kid), c, nil)
	}
}

func TestSSFReceiver_Rejects(t *testing.T) {
	tx := newTransmitter(t)
	cases := []rejectCase{
		{name: "bad signature (payload swapped after signing)", wantStatus: 400, wantErr: ErrCodeAuthenticationFailed, wantJTI: true,
			build: func(t *testing.T, tx *transmitter, c map[string]any) string {
				set := sign(t, tx.key("ec-1"), c, nil)
				c["sub_id"] = map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "mallory"}
				p, _ := json.Marshal(c)
				parts := strings.Split(set, ".")
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
			}},
		{name: "unknown kid", wantStatus: 400, wantErr: ErrCodeInvalidKey, wantJTI: true,
			build: func(t *testing.T, _ *transmitter, c map[string]any) string {
				return sign(t, newECKey(t, "rogue"), c, nil)
			}},
		{name: "known kid, key of another party", wantStatus: 400, wantErr: ErrCodeAuthenticationFailed, wantJTI: true,
			build: func(t *testing.T, _ *transmitter, c map[string]any) string {
				return sign(t, newECKey(t, "ec-1"), c, nil)
			}},
		{name: "wrong iss", wantStatus: 400, wantErr: ErrCodeInvalidIssuer, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["iss"] = "https://evil.test" })},
		{name: "wrong aud", wantStatus: 400, wantErr: ErrCodeInvalidAudience, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["aud"] = []string{"https://other.test"} })},
		{name: "no aud", wantStatus: 400, wantErr: ErrCodeInvalidAudience, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { delete(c, "aud") })},
		{name: "iat two days old", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["iat"] = time.Now().Add(-48 * time.Hour).Unix() })},
		{name: "iat an hour in the future", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })},
		{name: "no iat", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { delete(c, "iat") })},
		{name: "expired exp", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{name: "no jti", wantStatus: 400, wantErr: ErrCodeInvalidRequest,
			build: signWith("ec-1", func(c map[string]any) { delete(c, "jti") })},
		{name: "missing events", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { delete(c, "events") })},
		{name: "empty events", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["events"] = map[string]any{} })},
		{name: "alg none", wantStatus: 400, wantErr: ErrCodeInvalidKey, wantJTI: true,
			build: func(t *testing.T, _ *transmitter, c map[string]any) string {
				return unsigned(t, map[string]any{"alg": "none", "typ": "secevent+jwt"}, c)
			}},
		{name: "HS256 keyed with the transmitter's public key", wantStatus: 400, wantErr: ErrCodeInvalidKey, wantJTI: true,
			build: func(t *testing.T, tx *transmitter, c map[string]any) string {
				k := tx.key("ec-1")
				der, err := x509.MarshalPKIXPublicKey(k.Public().Key)
				if err != nil {
					t.Fatal(err)
				}
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				return sign(t, jose.JSONWebKey{Key: secret, KeyID: "ec-1", Algorithm: "HS256"}, c, nil)
			}},
		{name: "RS256 not in the transmitter's algorithms", wantStatus: 400, wantErr: ErrCodeInvalidKey, wantJTI: true,
			mutate: func(c *SSFConfig) { c.Transmitter.Algorithms = []string{"ES256"} },
			build:  signWith("rsa-1", nil)},
		{name: "typ JWT (an ID or access token)", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: func(t *testing.T, tx *transmitter, c map[string]any) string {
				return sign(t, tx.key("ec-1"), c, map[jose.HeaderKey]any{jose.HeaderType: "JWT"})
			}},
		{name: "typ missing without legacy", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: func(t *testing.T, tx *transmitter, c map[string]any) string {
				return sign(t, tx.key("ec-1"), c, map[jose.HeaderKey]any{jose.HeaderType: nil})
			}},
		{name: "wrong content type", contentType: "application/json", wantStatus: 400, wantErr: ErrCodeInvalidRequest,
			build: signWith("ec-1", nil)},
		{name: "not a JWS", wantStatus: 400, wantErr: ErrCodeInvalidRequest,
			build: func(*testing.T, *transmitter, map[string]any) string { return "not-a-set" }},
		{name: "missing bearer", bearer: "-", wantStatus: 401, wantErr: ErrCodeAuthenticationFailed, build: signWith("ec-1", nil)},
		{name: "wrong bearer", bearer: "push-secret-0123456780", wantStatus: 403, wantErr: ErrCodeAccessDenied, build: signWith("ec-1", nil)},
		{name: "GET", method: http.MethodGet, wantStatus: 405, wantErr: ErrCodeInvalidRequest, build: signWith("ec-1", nil)},
		{name: "iss_sub of an issuer the transmitter does not speak for", wantStatus: 400, wantErr: ErrCodeAccessDenied, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "iss_sub", "iss": "https://other-idp.test", "sub": "alice"}
			})},
		{name: "email that resolves to nobody", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "email", "email": "ghost@example.com"}
			})},
		{name: "email without a lookup configured", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			mutate: func(c *SSFConfig) { c.Users = nil },
			build: signWith("ec-1", func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "email", "email": "bob@example.com"}
			})},
		{name: "email lookup down: retryable", wantStatus: 503, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "email", "email": "down@example.com"}
			})},
		{name: "opaque without an opaque issuer", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { c["sub_id"] = map[string]any{"format": "opaque", "id": "x"} })},
		{name: "sub_id and event subject disagree", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) {
				c["events"] = map[string]any{EventSessionRevoked: map[string]any{
					"subject": map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "mallory"}}}
			})},
		{name: "revoking event with no subject", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) { delete(c, "sub_id") })},
		{name: "complex subject without a user", wantStatus: 400, wantErr: ErrCodeInvalidRequest, wantJTI: true,
			build: signWith("ec-1", func(c map[string]any) {
				c["sub_id"] = map[string]any{"format": "complex", "tenant": map[string]any{"format": "opaque", "id": "t1"}}
			})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSSFEnv(t, tx, tc.mutate)
			c := tx.claims()
			set := tc.build(t, tx, c)
			ct, bearer, method := secEventMediaType, testBearer, http.MethodPost
			if tc.contentType != "" {
				ct = tc.contentType
			}
			if tc.bearer == "-" {
				bearer = ""
			} else if tc.bearer != "" {
				bearer = tc.bearer
			}
			if tc.method != "" {
				method = tc.method
			}
			resp := do(t, method, e.srv.URL, ct, bearer, set)
			checkRejected(t, e, resp, set, tc, c["jti"])
		})
	}
}

func checkRejected(t *testing.T, e *ssfEnv, resp response, set string, tc rejectCase, jti any) {
	t.Helper()
	if resp.status != tc.wantStatus {
		t.Fatalf("status %d, want %d; body %s", resp.status, tc.wantStatus, resp.raw)
	}
	if got, _ := resp.body["err"].(string); got != tc.wantErr {
		t.Errorf("err %q, want %q (body %s)", got, tc.wantErr, resp.raw)
	}
	if d, _ := resp.body["description"].(string); d == "" {
		t.Errorf("no description in %s", resp.raw)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	revoked, accepted, rejected := e.rec.snapshot()
	if len(revoked) != 0 || len(accepted) != 0 {
		t.Fatalf("revoked %+v accepted %+v after a refusal", revoked, accepted)
	}
	if len(rejected) != 1 {
		t.Fatalf("auditor told %d rejections, want 1", len(rejected))
	}
	rej := rejected[0]
	if rej.Status != tc.wantStatus || rej.Code != tc.wantErr || rej.Source != SourceSSF ||
		rej.Transmitter != "test-idp" || rej.Reason == "" || rej.RemoteAddr == "" {
		t.Errorf("rejection %+v", rej)
	}
	if tc.wantJTI && rej.EventID != jti {
		t.Errorf("rejection EventID %q, want %v", rej.EventID, jti)
	}
	audit, _ := json.Marshal(rej)
	sig := set[strings.LastIndex(set, ".")+1:]
	for _, secret := range []string{testBearer, set, sig} {
		if len(secret) > 8 && strings.Contains(string(audit)+resp.raw, secret) {
			t.Errorf("credential material in audit or response: %s", audit)
		}
	}
	switch resp.status {
	case 401:
		if resp.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	case 503:
		if resp.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
}

func TestSSFReceiver_ReplayedJTI(t *testing.T) {
	e := newSSFEnv(t, newTransmitter(t), nil)
	set := sign(t, e.tx.key("ec-1"), e.tx.claims(), nil)
	if r := e.push(t, set); r.status != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", r.status, r.raw)
	}
	r := e.push(t, set)
	if r.status != 400 || r.body["err"] != ErrCodeInvalidRequest {
		t.Fatalf("replay: %d %s", r.status, r.raw)
	}
	revoked, _, rejected := e.rec.snapshot()
	if len(revoked) != 1 || len(rejected) != 1 || !strings.Contains(rejected[0].Reason, "replayed") {
		t.Fatalf("revoked %d, rejected %+v", len(revoked), rejected)
	}
}

// A failed Revoke is answered 503 and the jti is released, so the
// transmitter's retry of the same SET is applied.
func TestSSFReceiver_RevokerFailure(t *testing.T) {
	e := newSSFEnv(t, newTransmitter(t), func(c *SSFConfig) { c.RevokeTimeout = 3 * time.Second })
	e.rec.setFail(errors.New("spicedb: connection refused"))
	c := e.tx.claims()
	set := sign(t, e.tx.key("ec-1"), c, nil)
	r := e.push(t, set)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.body["err"] != nil {
		t.Fatalf("failing Revoker: %d %v %s", r.status, r.header, r.raw)
	}
	_, accepted, rejected := e.rec.snapshot()
	if len(accepted) != 0 || len(rejected) != 1 {
		t.Fatalf("accepted %v rejected %v", accepted, rejected)
	}
	rej := rejected[0]
	if rej.Status != 503 || rej.Target == nil || *rej.Target != (User{testIssuer, "alice"}) ||
		rej.EventType != EventSessionRevoked || rej.EventID != c["jti"] || !strings.Contains(rej.Reason, "connection refused") {
		t.Errorf("rejection %+v", rej)
	}
	e.rec.mu.Lock()
	deadline := e.rec.revokeCtx[0]
	e.rec.mu.Unlock()
	if until := time.Until(deadline); until <= 0 || until > 3*time.Second {
		t.Errorf("Revoke deadline %v away, want within RevokeTimeout", until)
	}

	e.rec.setFail(nil)
	if r := e.push(t, set); r.status != http.StatusAccepted {
		t.Fatalf("retry after recovery: %d %s", r.status, r.raw)
	}
	if revoked, _, _ := e.rec.snapshot(); len(revoked) != 1 {
		t.Fatalf("revoked %v", revoked)
	}
	if st := e.rcv.Stats(); st.Failed != 1 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSSFReceiver_UnknownEventAcknowledged(t *testing.T) {
	e := newSSFEnv(t, newTransmitter(t), nil)
	c := e.tx.claims()
	c["events"] = map[string]any{
		"https://schemas.openid.net/secevent/caep/event-type/credential-change": map[string]any{"change_type": "update"},
		"https://schemas.openid.net/secevent/ssf/event-type/verification":       map[string]any{"state": "x"},
	}
	if r := e.push(t, sign(t, e.tx.key("ec-1"), c, nil)); r.status != http.StatusAccepted {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	revoked, accepted, rejected := e.rec.snapshot()
	if len(revoked)+len(accepted)+len(rejected) != 0 {
		t.Fatalf("unknown events acted on: %v %v %v", revoked, accepted, rejected)
	}
	if st := e.rcv.Stats(); st.IgnoredEvents != 2 || st.ReplayEntries != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSSFReceiver_KeyRotation(t *testing.T) {
	tx := newTransmitter(t)
	e := newSSFEnv(t, tx, nil)
	if r := e.push(t, sign(t, tx.key("ec-1"), tx.claims(), nil)); r.status != 202 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	tx.addECKey(t, "ec-2")
	if r := e.push(t, sign(t, tx.key("ec-2"), tx.claims(), nil)); r.status != 202 {
		t.Fatalf("after rotation: %d %s", r.status, r.raw)
	}
	if hits := tx.jwksHits.Load(); hits != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (initial + one refetch for the new kid)", hits)
	}
}

// Unknown kids refetch at most once per interval; within it the answer is
// 503 (retry), not 400, so a real rotation is never dropped.
func TestSSFReceiver_UnknownKidRateLimited(t *testing.T) {
	tx := newTransmitter(t)
	e := newSSFEnv(t, tx, func(c *SSFConfig) { c.MinKeyRefetchInterval = time.Hour })
	rogue := newECKey(t, "rogue")
	if r := e.push(t, sign(t, rogue, tx.claims(), nil)); r.status != 400 || r.body["err"] != ErrCodeInvalidKey {
		t.Fatalf("first unknown kid: %d %s", r.status, r.raw)
	}
	for range 3 {
		if r := e.push(t, sign(t, rogue, tx.claims(), nil)); r.status != 503 {
			t.Fatalf("rate-limited unknown kid: %d %s", r.status, r.raw)
		}
	}
	if hits := tx.jwksHits.Load(); hits != 2 {
		t.Errorf("JWKS fetched %d times, want 2", hits)
	}
	if r := e.push(t, sign(t, tx.key("ec-1"), tx.claims(), nil)); r.status != 202 {
		t.Fatalf("known kid still works: %d %s", r.status, r.raw)
	}
}

func TestSSFReceiver_JWKSUnavailable(t *testing.T) {
	tx := newTransmitter(t)
	e := newSSFEnv(t, tx, func(c *SSFConfig) { c.MinKeyRefetchInterval = time.Nanosecond })
	tx.down.Store(true)
	r := e.push(t, sign(t, tx.key("ec-1"), tx.claims(), nil))
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("JWKS down: %d %s", r.status, r.raw)
	}
	if revoked, _, rejected := e.rec.snapshot(); len(revoked) != 0 || len(rejected) != 1 || rejected[0].Status != 503 {
		t.Fatalf("revoked %v rejected %v", revoked, rejected)
	}
	tx.down.Store(false)
	if r := e.push(t, sign(t, tx.key("ec-1"), tx.claims(), nil)); r.status != 202 {
		t.Fatalf("JWKS back: %d %s", r.status, r.raw)
	}
}

func TestSSFReceiver_ReplayCacheFull(t *testing.T) {
	e := newSSFEnv(t, newTransmitter(t), func(c *SSFConfig) { c.ReplayCacheSize = 1 })
	if r := e.push(t, sign(t, e.tx.key("ec-1"), e.tx.claims(), nil)); r.status != 202 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	r := e.push(t, sign(t, e.tx.key("ec-1"), e.tx.claims(), nil))
	if r.status != 503 {
		t.Fatalf("full replay cache must refuse (retryably), got %d %s", r.status, r.raw)
	}
	if revoked, _, _ := e.rec.snapshot(); len(revoked) != 1 {
		t.Fatalf("revoked %v", revoked)
	}
}

func TestNewSSFReceiver_Config(t *testing.T) {
	rec := &recorder{}
	valid := func() SSFConfig {
		return SSFConfig{Transmitter: Transmitter{Issuer: testIssuer, JWKSURL: "https://idp.test/jwks", Audience: testAudience},
			Revoker: rec, Auditor: rec}
	}
	cases := []struct {
		name string
		edit func(*SSFConfig)
		ok   bool
	}{
		{"valid", func(*SSFConfig) {}, true},
		{"loopback http JWKS", func(c *SSFConfig) { c.Transmitter.JWKSURL = "http://127.0.0.1:9/jwks" }, true},
		{"no issuer", func(c *SSFConfig) { c.Transmitter.Issuer = "" }, false},
		{"no audience", func(c *SSFConfig) { c.Transmitter.Audience = "" }, false},
		{"plain http JWKS", func(c *SSFConfig) { c.Transmitter.JWKSURL = "http://idp.test/jwks" }, false},
		{"relative JWKS", func(c *SSFConfig) { c.Transmitter.JWKSURL = "/jwks" }, false},
		{"HS256 allowed", func(c *SSFConfig) { c.Transmitter.Algorithms = []string{"ES256", "HS256"} }, false},
		{"none allowed", func(c *SSFConfig) { c.Transmitter.Algorithms = []string{"none"} }, false},
		{"no revoker", func(c *SSFConfig) { c.Revoker = nil }, false},
		{"no auditor", func(c *SSFConfig) { c.Auditor = nil }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.edit(&cfg)
			_, err := NewSSFReceiver(cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
