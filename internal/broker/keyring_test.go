package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func mustRing(t *testing.T, spec string) *KeyRing {
	t.Helper()
	r, err := ParseKeyRing(spec)
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	return r
}

func TestParseKeyRing(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t), newKey(t)
	urlKey := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)) // has '-' and '_'
	if !strings.ContainsAny(urlKey, "-_") {
		t.Fatal("test key is not URL-safe-specific")
	}
	cases := []struct {
		name        string
		spec        string
		wantCurrent string
		wantIDs     int
		wantErr     string
	}{
		{"one key", "k1:" + k1, "k1", 1, ""},
		{"first is current", "new:" + k2 + ",old:" + k1, "new", 2, ""},
		{"spaces and empty entries", " k1 : " + k1 + " ,, k2:" + k2 + ",", "k1", 2, ""},
		{"url-safe unpadded", "k1:" + urlKey, "k1", 1, ""},
		{"empty", "", "", 0, "key ring is empty"},
		{"no colon", k1, "", 0, "want kid:<base64 key>"},
		{"bad kid", "k/1:" + k1, "", 0, "key id must be"},
		{"empty kid", ":" + k1, "", 0, "key id must be"},
		{"duplicate kid", "k1:" + k1 + ",k1:" + k2, "", 0, `"k1" appears twice`},
		{"not base64", "k1:!!!notbase64!!!", "", 0, "is not base64"},
		{"16-byte key", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "", 0, "16 bytes, want 32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseKeyRing(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
					t.Error("error message contains key material")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Current() != tc.wantCurrent || len(r.IDs()) != tc.wantIDs {
				t.Errorf("current %q ids %v", r.Current(), r.IDs())
			}
		})
	}
}

func TestKeyRingFromEnv(t *testing.T) {
	t.Setenv("TEST_BROKER_KEYS", "k9:"+newKey(t))
	r, err := KeyRingFromEnv("TEST_BROKER_KEYS")
	if err != nil || r.Current() != "k9" {
		t.Fatalf("ring %v err %v", r, err)
	}
	if _, err := KeyRingFromEnv("TEST_BROKER_KEYS_UNSET"); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Errorf("unset: err = %v", err)
	}
}

func TestSealRecord_BindsSlotAndKey(t *testing.T) {
	t.Parallel()
	ring := mustRing(t, "k1:"+newKey(t))
	alice := Key{"acme", "alice", "github"}
	rec := Record{AccessToken: "gho_secretaccess", RefreshToken: "ghr_secretrefresh", Scopes: []string{"repo"}}
	data, err := sealRecord(ring, alice, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"gho_secretaccess", "ghr_secretrefresh", "alice", "acme", "github", "repo"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("sealed record contains %q in clear", s)
		}
	}
	got, kid, err := openRecord(ring, alice, data)
	if err != nil || kid != "k1" || got.AccessToken != rec.AccessToken || got.Provider != "github" {
		t.Fatalf("open: %v kid %q rec %v", err, kid, got)
	}
	slot, _, err := openSlot(ring, data)
	if err != nil || slot != alice {
		t.Fatalf("slot %v err %v", slot, err)
	}
	for name, other := range map[string]Key{
		"other user":     {"acme", "bob", "github"},
		"other tenant":   {"initech", "alice", "github"},
		"other provider": {"acme", "alice", "google"},
		"shifted fields": {"acmea", "lice", "github"},
	} {
		if _, _, err := openRecord(ring, other, data); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
	// Relabelling the envelope with another key id fails too.
	relabelled := bytes.Replace(data, []byte(`"kid":"k1"`), []byte(`"kid":"k2"`), 1)
	ring2 := mustRing(t, "k1:"+newKey(t)+",k2:"+newKey(t))
	if _, _, err := openRecord(ring2, alice, relabelled); !errors.Is(err, ErrOpen) {
		t.Errorf("relabelled kid: err = %v", err)
	}
	if _, _, err := openRecord(mustRing(t, "k2:"+newKey(t)), alice, data); !errors.Is(err, ErrUnknownKey) ||
		!strings.Contains(err.Error(), `key id "k1"`) {
		t.Errorf("removed key: err = %v", err)
	}
}

func TestRecord_RedactsTokens(t *testing.T) {
	t.Parallel()
	rec := Record{Provider: "github", AccessToken: "gho_AAA", RefreshToken: "ghr_BBB"}
	cred := Credential{HeaderName: "Authorization", HeaderValue: "Bearer gho_AAA", Token: "gho_AAA"}
	var buf strings.Builder
	for _, v := range []any{rec, &rec, cred} {
		buf.WriteString(sprintAll(v))
	}
	if s := buf.String(); strings.Contains(s, "gho_AAA") || strings.Contains(s, "ghr_BBB") {
		t.Errorf("formatted values leak a token: %s", s)
	}
}
