package redact

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBudget_ExhaustedBlocks(t *testing.T) {
	t.Parallel()
	p := defaultPolicy(t)
	for _, tc := range []struct{ name, text string }{
		{"regex work", "intro a@example.com " + strings.Repeat("key=", 4096)},   // every hit passes the prefilter
		{"prefilter work", "intro a@example.com " + strings.Repeat("ey", 8192)}, // a hit every 2 bytes
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := p.RedactText([]byte(tc.text))
			if r.Blocked == nil || r.Blocked.Reason != ReasonBudgetExhausted || !errors.Is(r.Blocked, ErrBudgetExhausted) || !r.Exhausted {
				t.Fatalf("blocked=%+v exhausted=%v, want a budget block", r.Blocked, r.Exhausted)
			}
			if !strings.HasPrefix(string(r.Text), "intro [REDACTED:email] ") || len(r.Text) >= len(tc.text) {
				t.Fatalf("output before the block %q", r.Text)
			}
			if el := time.Since(start); el > 200*time.Millisecond { // generous: CI machines are shared
				t.Fatalf("took %v", el)
			}
		})
	}
}

func TestBudget_ExhaustedReportContinues(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(Config{Budget: Budget{Base: 10_000, PerByte: 1, OnExhausted: ActionReport}})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("key=", 2000) + " mail a@example.com " + ghp
	r := p.RedactText([]byte(text))
	if r.Blocked != nil || !r.Exhausted {
		t.Fatalf("blocked=%v exhausted=%v, want reported exhaustion", r.Blocked, r.Exhausted)
	}
	if !strings.HasSuffix(string(r.Text), " mail [REDACTED:email] "+ghp) {
		t.Fatalf("after exhaustion PII is still redacted, secrets are not searched: %q", r.Text[len(r.Text)-60:])
	}
	m, err := p.RedactMessage([]byte(`{"result":{"content":[{"text":"` + text + `"}]}}`))
	if err != nil || m.Blocked != nil || !m.Exhausted {
		t.Fatalf("message: err=%v blocked=%v exhausted=%v", err, m.Blocked, m.Exhausted)
	}
}

func TestBudget_JSONBlock(t *testing.T) {
	t.Parallel()
	body := `{"result":{"content":[{"text":"` + strings.Repeat("key=", 4096) + `"}]}}`
	_, _, err := RedactJSONRPC([]byte(body), defaultPolicy(t))
	if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v, want a budget block", err)
	}
}

func TestBudget_PhoneValidationsFallBack(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(Config{MaxPhoneValidations: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := findings(t, p, "+1 415 555 2671, +1 415 555 2672, +1 415 555 2671, 555 1234 x")
	want := []found{
		{KindPhone, "libphonenumber", "+1 415 555 2671"},
		{KindPhone, "phone-unvalidated", "+1 415 555 2672"},
		{KindPhone, "libphonenumber", "+1 415 555 2671"}, // cached: no validation spent
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestBudget_RealisticTextNeverRunsOut(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	for sb.Len() < 64<<10 {
		sb.WriteString(`{"name":"deploy","api_version":"v2","auth":{"type":"oauth","token_url":"https://auth.example.com/token"},` +
			`"access":"read","key":"config/app.yaml","secret_ref":"vault:kv/app","password_policy":"strong"}` + "\n")
		sb.WriteString("The API key rotation job reads the secret manager; tokens expire after 3600 s. Contact ops@example.com.\n")
	}
	// A few real secrets of the costly kinds: a 4096-bit key block, a JWT,
	// a curl command with credentials, generic assignments.
	sb.WriteString("-----BEGIN RSA PRIVATE KEY-----\n")
	for i := 0; i < 50; i++ {
		sb.WriteString("MIIJKQIBAAKCAgEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n")
	}
	sb.WriteString("-----END RSA PRIVATE KEY-----\n")
	sb.WriteString("token: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n")
	sb.WriteString("curl -u admin:Sup3rS3cretPassw0rd https://api.example.com/v1/items\n")
	for i := 0; i < 20; i++ {
		sb.WriteString(`db_password = "x9Vq2LmZ7pR4tY8wK3nB6"` + "\n")
	}
	r := defaultPolicy(t).RedactText([]byte(sb.String()))
	if r.Blocked != nil || r.Exhausted {
		t.Fatalf("budget ran out on ordinary text: %+v", r.Blocked)
	}
	kinds := map[string]int{}
	for _, f := range r.Findings {
		kinds[f.Rule]++
	}
	if kinds["private-key"] != 1 || kinds["jwt"] != 1 || kinds["curl-auth-user"] != 1 || kinds["generic-api-key"] < 20 {
		t.Fatalf("findings by rule %v", kinds)
	}
}
