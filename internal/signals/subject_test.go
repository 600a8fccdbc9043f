package signals

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestParseSubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		raw    string
		legacy bool
		want   subjectID
		err    string
	}{
		{name: "iss_sub", raw: `{"format":"iss_sub","iss":"i","sub":"s"}`, want: subjectID{Format: formatIssSub, Iss: "i", Sub: "s"}},
		{name: "email", raw: `{"format":"email","email":"a@b"}`, want: subjectID{Format: formatEmail, Email: "a@b"}},
		{name: "opaque", raw: `{"format":"opaque","id":"x"}`, want: subjectID{Format: formatOpaque, ID: "x"}},
		{name: "complex reduces to user", raw: `{"format":"complex","user":{"format":"opaque","id":"u"},"device":{"format":"opaque","id":"d"}}`,
			want: subjectID{Format: formatOpaque, ID: "u"}},
		{name: "aliases keep readable identifiers", raw: `{"format":"aliases","identifiers":[{"format":"did","url":"did:x"},{"format":"email","email":"a@b"}]}`,
			want: subjectID{Format: formatAliases, Aliases: []subjectID{{Format: formatEmail, Email: "a@b"}}}},
		{name: "legacy subject_type", raw: `{"subject_type":"iss-sub","iss":"i","sub":"s"}`, legacy: true,
			want: subjectID{Format: formatIssSub, Iss: "i", Sub: "s"}},
		{name: "subject_type without legacy", raw: `{"subject_type":"iss-sub","iss":"i","sub":"s"}`, err: ErrCodeInvalidRequest},
		{name: "iss_sub missing sub", raw: `{"format":"iss_sub","iss":"i"}`, err: ErrCodeInvalidRequest},
		{name: "iss_sub empty iss", raw: `{"format":"iss_sub","iss":"","sub":"s"}`, err: ErrCodeInvalidRequest},
		{name: "sub not a string", raw: `{"format":"iss_sub","iss":"i","sub":1}`, err: ErrCodeInvalidRequest},
		{name: "account", raw: `{"format":"account","uri":"acct:a@b"}`, err: ErrCodeInvalidRequest},
		{name: "phone number", raw: `{"format":"phone_number","phone_number":"+1"}`, err: ErrCodeInvalidRequest},
		{name: "not an object", raw: `"alice"`, err: ErrCodeInvalidRequest},
		{name: "complex without user", raw: `{"format":"complex","session":{"format":"opaque","id":"s"}}`, err: ErrCodeInvalidRequest},
		{name: "complex in complex", raw: `{"format":"complex","user":{"format":"complex","user":{"format":"opaque","id":"u"}}}`, err: ErrCodeInvalidRequest},
		{name: "aliases in aliases", raw: `{"format":"aliases","identifiers":[{"format":"aliases","identifiers":[]}]}`, err: ErrCodeInvalidRequest},
		{name: "aliases all unreadable", raw: `{"format":"aliases","identifiers":[{"format":"did","url":"did:x"}]}`, err: ErrCodeInvalidRequest},
		{name: "aliases empty", raw: `{"format":"aliases","identifiers":[]}`, err: ErrCodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseSubject(json.RawMessage(tc.raw), tc.legacy)
			if code := failureCode(err); code != tc.err {
				t.Fatalf("err %q (%v), want %q", code, err, tc.err)
			}
			if err == nil {
				a, _ := json.Marshal(got)
				b, _ := json.Marshal(tc.want)
				if string(a) != string(b) {
					t.Fatalf("got %s, want %s", a, b)
				}
			}
		})
	}
}

func TestSubjectPolicy_Resolve(t *testing.T) {
	t.Parallel()
	p := subjectPolicy{issuers: []string{testIssuer}, opaqueIssuer: "https://as.test", lookup: directory}
	cases := []struct {
		name string
		s    subjectID
		want User
		err  string
	}{
		{"iss_sub trusted", subjectID{Format: formatIssSub, Iss: testIssuer, Sub: "a"}, User{testIssuer, "a"}, ""},
		{"iss_sub foreign issuer", subjectID{Format: formatIssSub, Iss: "https://x", Sub: "a"}, User{}, ErrCodeAccessDenied},
		{"opaque", subjectID{Format: formatOpaque, ID: "o"}, User{"https://as.test", "o"}, ""},
		{"email known", subjectID{Format: formatEmail, Email: "bob@example.com"}, User{testIssuer, "bob"}, ""},
		{"email unknown", subjectID{Format: formatEmail, Email: "x@example.com"}, User{}, ErrCodeInvalidRequest},
		{"email lookup down", subjectID{Format: formatEmail, Email: "down@example.com"}, User{}, "503"},
		{"aliases: first resolvable wins", subjectID{Format: formatAliases, Aliases: []subjectID{
			{Format: formatIssSub, Iss: "https://x", Sub: "a"}, {Format: formatEmail, Email: "bob@example.com"}}}, User{testIssuer, "bob"}, ""},
		{"aliases: outage outranks refusal", subjectID{Format: formatAliases, Aliases: []subjectID{
			{Format: formatIssSub, Iss: "https://x", Sub: "a"}, {Format: formatEmail, Email: "down@example.com"}}}, User{}, "503"},
		{"aliases: all refused", subjectID{Format: formatAliases, Aliases: []subjectID{
			{Format: formatIssSub, Iss: "https://x", Sub: "a"}, {Format: formatEmail, Email: "x@example.com"}}}, User{}, ErrCodeAccessDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.resolve(context.Background(), tc.s)
			if code := failureCode(err); code != tc.err {
				t.Fatalf("err %q (%v), want %q", code, err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	noConfig := subjectPolicy{issuers: []string{testIssuer}}
	for _, s := range []subjectID{{Format: formatOpaque, ID: "o"}, {Format: formatEmail, Email: "bob@example.com"}} {
		if _, err := noConfig.resolve(context.Background(), s); failureCode(err) != ErrCodeInvalidRequest {
			t.Errorf("unconfigured %s: %v", s.Format, err)
		}
	}
}

func TestReplayCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(2)
	steps := []struct {
		jti  string
		ttl  time.Duration
		at   time.Duration
		want reserveResult
	}{
		{"a", time.Hour, 0, reserved},
		{"a", time.Hour, time.Minute, replayed},
		{"b", time.Minute, 0, reserved},
		{"c", time.Hour, 0, cacheFull},              // full, nothing expired
		{"c", time.Hour, 2 * time.Minute, reserved}, // b expired and is swept
		{"b", time.Hour, 2 * time.Minute, cacheFull},
		{"a", time.Hour, 2 * time.Hour, reserved}, // a's own entry expired
	}
	for i, s := range steps {
		at := now.Add(s.at)
		if got := c.reserve(s.jti, at.Add(s.ttl), at); got != s.want {
			t.Fatalf("step %d reserve(%s) = %v, want %v", i, s.jti, got, s.want)
		}
	}
	c.release("a")
	if got := c.reserve("a", now.Add(3*time.Hour), now.Add(2*time.Hour)); got != reserved {
		t.Fatalf("after release: %v", got)
	}
}
