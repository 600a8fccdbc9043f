package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Key names one record: a user's connection to one provider, in one tenant.
type Key struct {
	Tenant, User, Provider string
}

// maxIDLen bounds tenant, user and provider ids (they come from tokens and
// URLs).
const maxIDLen = 256

func (k Key) validate() error {
	for _, f := range []struct{ name, v string }{{"tenant", k.Tenant}, {"user", k.User}, {"provider", k.Provider}} {
		if f.v == "" || len(f.v) > maxIDLen {
			return fmt.Errorf("broker: %s id must be 1-%d bytes", f.name, maxIDLen)
		}
	}
	return nil
}

// String identifies the slot for error messages; ids are not secrets.
func (k Key) String() string {
	return fmt.Sprintf("tenant=%q user=%q provider=%q", k.Tenant, k.User, k.Provider)
}

// Record is one stored upstream credential. Tokens are secrets: String,
// GoString and LogValue redact them, so a stray %v or slog attribute cannot
// leak one.
type Record struct {
	Provider     string    `json:"provider"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"` // zero: the provider gave none
	Scopes       []string  `json:"scopes,omitempty"`
	ConnectedAt  time.Time `json:"connected_at"`
	RefreshedAt  time.Time `json:"refreshed_at,omitzero"`
}

func (r Record) String() string {
	return fmt.Sprintf("broker.Record{Provider: %q, AccessToken: [redacted], RefreshToken: %s, Expiry: %s, Scopes: %v}",
		r.Provider, redactedIf(r.RefreshToken), r.Expiry.Format(time.RFC3339), r.Scopes)
}

func (r Record) GoString() string { return r.String() }

func (r Record) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", r.Provider), slog.Time("expiry", r.Expiry),
		slog.Bool("refreshable", r.RefreshToken != ""), slog.Any("scopes", r.Scopes))
}

func redactedIf(s string) string {
	if s == "" {
		return "none"
	}
	return "[redacted]"
}

// Entry is a record with its slot.
type Entry struct {
	Key    Key
	Record Record
}

// ErrNoRecord: nothing is stored for the slot.
var ErrNoRecord = errors.New("broker: no record")

// envelope is a record at rest. Both blobs are AES-256-GCM under the key
// kid: slot is the (tenant, user, provider) the record belongs to, so
// Rewrap and listing can find the AAD of a file whose name is only a hash;
// record is the Record, its AAD binding the slot being opened — so a file
// copied to another user's slot does not open there, whatever its own slot
// blob says.
type envelope struct {
	V      int    `json:"v"`
	KID    string `json:"kid"`
	Slot   []byte `json:"slot"`
	Record []byte `json:"record"`
}

const (
	envelopeVersion = 1
	aadRecord       = "actiongate/broker/record/v1"
	aadSlot         = "actiongate/broker/slot/v1"
)

func recordAAD(k Key) []byte {
	b := appendField(nil, aadRecord)
	b = appendField(b, k.Tenant)
	b = appendField(b, k.User)
	return appendField(b, k.Provider)
}

// sealRecord encrypts r for slot k under the ring's current key.
func sealRecord(ring *KeyRing, k Key, r Record) ([]byte, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	r.Provider = k.Provider
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	slot, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	kid, sealedSlot := ring.seal(slot, appendField(nil, aadSlot))
	_, sealedRec := ring.seal(plain, recordAAD(k))
	return json.Marshal(envelope{V: envelopeVersion, KID: kid, Slot: sealedSlot, Record: sealedRec})
}

func parseEnvelope(data []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil || env.V != envelopeVersion || env.KID == "" {
		return envelope{}, fmt.Errorf("%w: not a v%d record envelope", ErrOpen, envelopeVersion)
	}
	return env, nil
}

// openRecord decrypts data as the record of slot k.
func openRecord(ring *KeyRing, k Key, data []byte) (Record, string, error) {
	env, err := parseEnvelope(data)
	if err != nil {
		return Record{}, "", err
	}
	plain, err := ring.open(env.KID, env.Record, recordAAD(k))
	if err != nil {
		return Record{}, env.KID, err
	}
	var r Record
	if err := json.Unmarshal(plain, &r); err != nil || r.Provider != k.Provider {
		return Record{}, env.KID, ErrOpen
	}
	return r, env.KID, nil
}

// openSlot decrypts which slot data says it belongs to. Only a hint for
// finding the AAD: openRecord is what authenticates the record for a slot.
func openSlot(ring *KeyRing, data []byte) (Key, string, error) {
	env, err := parseEnvelope(data)
	if err != nil {
		return Key{}, "", err
	}
	plain, err := ring.open(env.KID, env.Slot, appendField(nil, aadSlot))
	if err != nil {
		return Key{}, env.KID, err
	}
	var k Key
	if err := json.Unmarshal(plain, &k); err != nil || k.validate() != nil {
		return Key{}, env.KID, ErrOpen
	}
	return k, env.KID, nil
}
