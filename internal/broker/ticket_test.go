package broker

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTicket_SignVerify(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	good := ticket{Tenant: "acme", User: "alice", Provider: "github", IssuedAt: now.UnixMilli(), Expires: now.Add(10 * time.Minute).Unix(), Nonce: "n1"}
	signed := signTicket(key, good)
	payload, sig, _ := strings.Cut(signed, ".")
	other := good
	other.User = "bob"
	otherPayload, _, _ := strings.Cut(signTicket(key, other), ".")
	flip := []byte(sig)
	flip[0] ^= 1
	cases := []struct {
		name    string
		s       string
		key     []byte
		at      time.Time
		wantErr error
	}{
		{"valid", signed, key, now, nil},
		{"valid until just before expiry", signed, key, now.Add(10*time.Minute - time.Second), nil},
		{"expired", signed, key, now.Add(10 * time.Minute), errTicketExpired},
		{"other key", signed, []byte("another key of thirty-two bytes!"), now, errTicketForged},
		{"payload swapped to bob", otherPayload + "." + sig, key, now, errTicketForged},
		{"signature flipped", payload + "." + string(flip), key, now, errTicketForged},
		{"signature missing", payload, key, now, errTicketMalformed},
		{"empty", "", key, now, errTicketMalformed},
		{"not base64", payload + ".***", key, now, errTicketMalformed},
		{"too long", strings.Repeat("a", maxTicketLen+1), key, now, errTicketMalformed},
		{"signed garbage", signRaw(key, "not json"), key, now, errTicketMalformed},
		{"signed but no nonce", signRaw(key, `{"t":"a","u":"b","p":"c","exp":9999999999}`), key, now, errTicketMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := verifyTicket(tc.key, tc.s, tc.at)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got != good {
				t.Errorf("ticket = %+v", got)
			}
		})
	}
}

func signRaw(key []byte, payload string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return p + "." + base64.RawURLEncoding.EncodeToString(ticketSig(key, p))
}
