package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ticket is what a connect link carries: who may connect which provider,
// until when. It is HMAC-SHA256 signed, so the gateway needs no session
// and no login of its own: the link in the denial message is the proof
// that this gateway asked this user to connect.
type ticket struct {
	Tenant   string `json:"t"`
	User     string `json:"u"`
	Provider string `json:"p"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Nonce    string `json:"n"` // single successful use (see Broker.consumeTicket)
}

const ticketMAC = "actiongate/broker/connect-ticket/v1."

var (
	errTicketMalformed = errors.New("connect ticket is malformed")
	errTicketForged    = errors.New("connect ticket signature does not verify")
	errTicketExpired   = errors.New("connect ticket has expired")
)

// maxTicketLen bounds what is decoded from a query string.
const maxTicketLen = 2048

// signTicket encodes t as base64url(JSON) "." base64url(HMAC).
func signTicket(key []byte, t ticket) string {
	payload, _ := json.Marshal(t) // plain strings and ints: cannot fail
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(ticketSig(key, p))
}

func ticketSig(key []byte, encodedPayload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ticketMAC))
	m.Write([]byte(encodedPayload))
	return m.Sum(nil)
}

// verifyTicket checks the signature before reading the payload, then the
// expiry. It is pure: single use and revocation are the broker's checks.
func verifyTicket(key []byte, s string, now time.Time) (ticket, error) {
	if s == "" || len(s) > maxTicketLen {
		return ticket{}, errTicketMalformed
	}
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return ticket{}, errTicketMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return ticket{}, errTicketMalformed
	}
	if !hmac.Equal(got, ticketSig(key, p)) {
		return ticket{}, errTicketForged
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return ticket{}, errTicketMalformed
	}
	var t ticket
	if err := json.Unmarshal(payload, &t); err != nil || t.Nonce == "" ||
		(Key{t.Tenant, t.User, t.Provider}).validate() != nil {
		return ticket{}, errTicketMalformed
	}
	if now.Unix() >= t.Expires {
		return ticket{}, errTicketExpired
	}
	return t, nil
}
