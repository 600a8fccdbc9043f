package redact

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	defaultPolicyOnce sync.Once
	defaultPol        *Policy
	defaultPolErr     error
)

func defaultPolicy(t testing.TB) *Policy {
	t.Helper()
	defaultPolicyOnce.Do(func() { defaultPol, defaultPolErr = NewPolicy(Config{}) })
	if defaultPolErr != nil {
		t.Fatal(defaultPolErr)
	}
	return defaultPol
}

// found is a finding reduced to what a table names: kind, rule, the text.
type found struct {
	kind Kind
	rule string
	text string
}

func findings(t *testing.T, p *Policy, text string) []found {
	t.Helper()
	r := p.RedactText([]byte(text))
	if r.Blocked != nil {
		t.Fatalf("blocked: %v", r.Blocked)
	}
	var out []found
	for _, f := range r.Findings {
		out = append(out, found{f.Kind, f.Rule, text[f.Start:f.End]})
	}
	return out
}

type detectCase struct {
	name string
	text string
	want []found // exactly these, in order
}

func runDetectCases(t *testing.T, p *Policy, cases []detectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := findings(t, p, tc.text)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("findings in %q:\n got  %v\n want %v", tc.text, got, tc.want)
			}
		})
	}
}

func TestDetect_Secrets(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN RSA PRIVATE KEY-----\n" + strings.Repeat("MIIEowIBAAKCAQEA7bq2Jd0Gd8pLh0zF2w3rmQ9d8kX5vN1yQ2hF8hG9zQ0pW9fL3\n", 3) + "-----END RSA PRIVATE KEY-----"
	runDetectCases(t, defaultPolicy(t), []detectCase{
		{"aws access key", "id: AKIAZ7VQ4CNHV3HMSPLE end", []found{{KindSecret, "aws-access-token", "AKIAZ7VQ4CNHV3HMSPLE"}}},
		{"aws example key allowlisted", "id: AKIAIOSFODNN7EXAMPLE", nil},
		{"github pat", "token ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90yz.", []found{{KindSecret, "github-pat", "ghp_abcdEFGH1234ijklMNOP5678qrstUVWX90yz"}}},
		{"github pat placeholder", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", nil},
		{"private key block", "key:\n" + pem + "\n", []found{{KindSecret, "private-key", pem}}},
		{"db url with password", "DATABASE_URL=postgres://app:S3cr3t-Pa55@db.internal:5432/app", []found{{KindSecret, "actiongate-url-password", "S3cr3t-Pa55"}}},
		{"db url placeholder", "postgres://app:${DB_PASSWORD}@db/app", nil},
		{"url without password", "see https://example.com/path and https://example.com/a:b@c", nil},
		{"generic assignment", `config.password = "hunter2hunter2xyzQ9";`, []found{{KindSecret, "generic-api-key", "hunter2hunter2xyzQ9"}}},
		{"generic low entropy", `password = "aaaaaaaaaaaaaaaa"`, nil},
		{"bearer token", "Authorization: Bearer 3Gz9kQ2mX7pL1vR8tY4wB6nJ0hF5dS", []found{{KindSecret, "actiongate-bearer-token", "3Gz9kQ2mX7pL1vR8tY4wB6nJ0hF5dS"}}},
		{"keywords only", "the api key and the auth token are rotated by the secret manager", nil},
		{"escaped json cannot hide", "{\"t\":\"xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx\"}", []found{{KindSecret, "slack-bot-token", "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"}}},
	})
}

func TestDetect_Cards(t *testing.T) {
	t.Parallel()
	runDetectCases(t, defaultPolicy(t), []detectCase{
		{"visa spaced", "card 4111 1111 1111 1111 exp", []found{{KindCard, "luhn", "4111 1111 1111 1111"}}},
		{"visa solid", "4012888888881881", []found{{KindCard, "luhn", "4012888888881881"}}},
		{"mastercard dashed", "5555-5555-5555-4444.", []found{{KindCard, "luhn", "5555-5555-5555-4444"}}},
		{"amex 4-6-5", "amex 3782 822463 10005", []found{{KindCard, "luhn", "3782 822463 10005"}}},
		{"bad luhn", "4111 1111 1111 1112", nil},
		{"luhn but no issuer", "9999 9999 9999 9995", nil},
		{"issuer length wrong", "341111111111111111", nil}, // Amex is 15 digits
		{"mixed separators", "4111-1111 1111-1111", nil},
		{"inside an identifier", "order-id x4111111111111111", nil},
		{"part of longer number", "41111111111111111111", nil},
		{"after a short number", "ref 12 4111 1111 1111 1111", []found{{KindCard, "luhn", "4111 1111 1111 1111"}}},
	})
}

func TestDetect_IBAN(t *testing.T) {
	t.Parallel()
	runDetectCases(t, defaultPolicy(t), []detectCase{
		{"gb print format", "IBAN GB82 WEST 1234 5698 7654 32 ok", []found{{KindIBAN, "mod97", "GB82 WEST 1234 5698 7654 32"}}},
		{"de solid", "DE89370400440532013000", []found{{KindIBAN, "mod97", "DE89370400440532013000"}}},
		{"lowercase", "gb82west12345698765432", []found{{KindIBAN, "mod97", "gb82west12345698765432"}}},
		{"bad check digits", "GB83WEST12345698765432", nil},
		{"wrong length", "GB82WEST1234569876543", nil},
		{"unknown country", "QQ82WEST12345698765432", nil},
		{"inside a word", "xGB82WEST12345698765432", nil},
	})
}

func TestDetect_Phones(t *testing.T) {
	t.Parallel()
	runDetectCases(t, defaultPolicy(t), []detectCase{
		{"us international", "call +1-415-555-2671 now", []found{{KindPhone, "libphonenumber", "+1-415-555-2671"}}},
		{"us national", "(415) 555-2671", []found{{KindPhone, "libphonenumber", "(415) 555-2671"}}},
		{"uk national", "020 7946 0958", []found{{KindPhone, "libphonenumber", "020 7946 0958"}}},
		{"uk with (0)", "+44 (0)20 7946 0958", []found{{KindPhone, "libphonenumber", "+44 (0)20 7946 0958"}}},
		{"de mobile intl", "+49 151 23456789", []found{{KindPhone, "libphonenumber", "+49 151 23456789"}}},
		{"extension", "+1 415 555 2671 x123;", []found{{KindPhone, "libphonenumber", "+1 415 555 2671 x123"}}},
		{"a list", "+1 415 555 2671 +44 20 7946 0958", []found{{KindPhone, "libphonenumber", "+1 415 555 2671"}, {KindPhone, "libphonenumber", "+44 20 7946 0958"}}},
		{"invalid area code", "+1 099 555 2671", nil},
		{"national without trunk prefix", "7946 0958 1", nil},
		{"date", "2023-10-12", nil},
		{"date and hour", "on 2018-01-14 03:07:43 UTC", nil},
		{"ip address", "10.20.30.40", nil},
		{"decimal", "3.14159265", nil},
		{"unix timestamp", "1712345678", nil},
		{"too short", "555-1234", nil},
	})
}

func TestDetect_Emails(t *testing.T) {
	t.Parallel()
	runDetectCases(t, defaultPolicy(t), []detectCase{
		{"plain", "mail john.doe@example.com.", []found{{KindEmail, "rfc5321", "john.doe@example.com"}}},
		{"plus and subdomain", "<a+b_c@mail.example.co.uk>", []found{{KindEmail, "rfc5321", "a+b_c@mail.example.co.uk"}}},
		{"idn tld in punycode", "x@example.xn--p1ai", []found{{KindEmail, "rfc5321", "x@example.xn--p1ai"}}},
		{"unknown tld", "user@host.invalidtld", nil},
		{"single label", "root@localhost", nil},
		{"double dot", "a..b@example.com", nil},
		{"trailing dot local", "a.@example.com", nil},
		{"label hyphen", "a@-example.com", nil},
		{"decorator", "@Override and user@", nil},
		{"long local part", strings.Repeat("a", 65) + "@example.com", nil},
	})
}

func TestDetect_NationalIDs(t *testing.T) {
	t.Parallel()
	custom, err := NewPolicy(Config{NationalIDs: []NationalID{
		{Name: "US_SSN"},
		{Name: "EXAMPLE_ID", Pattern: `\b\d{9}\b`, Checksum: "mod11"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	runDetectCases(t, custom, []detectCase{
		{"ssn dashed", "SSN 123-45-6780.", []found{{KindNationalID, "US_SSN", "123-45-6780"}}},
		{"ssn spaced", "ssn: 078 05 1121", []found{{KindNationalID, "US_SSN", "078 05 1121"}}},
		{"ssn area 000", "000-12-3456", nil},
		{"ssn area 666", "666-12-3456", nil},
		{"ssn area 9xx", "912-12-3456", nil},
		{"ssn group 00", "123-00-4567", nil},
		{"ssn serial 0000", "123-45-0000", nil},
		{"ssn advertised", "078-05-1120", nil},
		{"ssn mixed separators", "123-45 6789", nil},
		{"ssn longer token", "123-45-6780-1", nil},
		{"custom with checksum", "id 111222338 ok", []found{{KindNationalID, "EXAMPLE_ID", "111222338"}}},
		{"custom bad checksum", "id 111222334 ok", nil},
	})
	if _, err := NewPolicy(Config{NationalIDs: []NationalID{{Name: "XX"}}}); err == nil {
		t.Fatal("unknown built-in accepted")
	}
	if _, err := NewPolicy(Config{NationalIDs: []NationalID{{Name: "X", Pattern: `\d+`}}}); err == nil {
		t.Fatal("unbounded custom pattern accepted")
	}
}

func TestDetect_Credentials(t *testing.T) {
	t.Parallel()
	p, err := defaultPolicy(t).WithCredentials("brokered-Tok3n.value/with+chars")
	if err != nil {
		t.Fatal(err)
	}
	runDetectCases(t, p, []detectCase{
		{"raw", "echo brokered-Tok3n.value/with+chars done", []found{{KindCredential, "brokered", "brokered-Tok3n.value/with+chars"}}},
		{"url encoded", "?t=brokered-Tok3n.value%2Fwith%2Bchars&x", []found{{KindCredential, "brokered-urlencoded", "brokered-Tok3n.value%2Fwith%2Bchars"}}},
		{"base64", "YnJva2VyZWQtVG9rM24udmFsdWUvd2l0aCtjaGFycw==", []found{{KindCredential, "brokered-base64", "YnJva2VyZWQtVG9rM24udmFsdWUvd2l0aCtjaGFycw"}}},
		{"case differs", "BROKERED-TOK3N.VALUE/WITH+CHARS", nil},
		{"prefix only", "brokered-Tok3n.value/with", nil},
	})
	if _, err := defaultPolicy(t).WithCredentials("short"); err == nil {
		t.Fatal("credential shorter than 8 bytes accepted")
	}
}
