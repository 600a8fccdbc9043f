package broker

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeysEnv is the environment variable the key ring is read from by default.
const KeysEnv = "ACTIONGATE_BROKER_KEYS"

// KeyRing holds the key-encryption keys (KEKs) records are sealed with:
// AES-256-GCM, one key current (new seals), the others kept so records
// sealed before a rotation still open until Rewrap has moved them.
type KeyRing struct {
	current string
	order   []string
	aeads   map[string]cipher.AEAD
}

// ErrUnknownKey: a record names a key id the ring does not hold (removed
// before Rewrap moved the record, or a ring from another deployment).
var ErrUnknownKey = errors.New("broker: record sealed with a key id that is not in the key ring")

// ErrOpen: the record does not authenticate under its key and slot — it
// was altered, or copied from another (tenant, user, provider).
var ErrOpen = errors.New("broker: record does not open for this slot (tampered, or copied from another user or provider)")

// ParseKeyRing parses "kid1:<base64 32 bytes>,kid2:<…>". The first key is
// current. Key ids are 1–64 characters of [A-Za-z0-9._-]; the key is
// standard or URL-safe base64, padded or not, of exactly 32 bytes. Errors
// name the entry by position and key id, never the key material.
func ParseKeyRing(spec string) (*KeyRing, error) {
	r := &KeyRing{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		kid, b64, ok := strings.Cut(entry, ":")
		kid = strings.TrimSpace(kid)
		if !ok {
			return nil, fmt.Errorf("broker: key ring entry %d: want kid:<base64 key>", i+1)
		}
		if !validKID(kid) {
			return nil, fmt.Errorf("broker: key ring entry %d: key id must be 1-64 characters of A-Z a-z 0-9 . _ -", i+1)
		}
		if _, dup := r.aeads[kid]; dup {
			return nil, fmt.Errorf("broker: key ring: key id %q appears twice", kid)
		}
		key, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("broker: key ring: key %q: %w", kid, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("broker: key ring: key %q: %w", kid, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.aeads[kid] = aead
		r.order = append(r.order, kid)
	}
	if len(r.order) == 0 {
		return nil, errors.New("broker: key ring is empty; want kid:<base64 32-byte key>[,kid:<key>…], the first current")
	}
	r.current = r.order[0]
	return r, nil
}

// KeyRingFromEnv parses the key ring in the environment variable name
// (KeysEnv when empty).
func KeyRingFromEnv(name string) (*KeyRing, error) {
	if name == "" {
		name = KeysEnv
	}
	spec, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("broker: %s is not set; generate a key with `head -c32 /dev/urandom | base64` and set %s=k1:<key>", name, name)
	}
	r, err := ParseKeyRing(spec)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, name)
	}
	return r, nil
}

// Current is the id of the key new seals use.
func (r *KeyRing) Current() string { return r.current }

// IDs lists the key ids, current first.
func (r *KeyRing) IDs() []string { return append([]string(nil), r.order...) }

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes, want 32 (AES-256)", len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("is not base64")
}

func validKID(kid string) bool {
	if kid == "" || len(kid) > 64 {
		return false
	}
	for _, c := range kid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// seal encrypts plaintext under the current key with a fresh nonce; the
// AAD binds purpose and kid (so a sealed blob cannot be relabelled to
// another key id) plus whatever the caller adds.
func (r *KeyRing) seal(plaintext []byte, aad []byte) (kid string, sealed []byte) {
	aead := r.aeads[r.current]
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never returns an error (Go 1.24+)
	return r.current, aead.Seal(nonce, nonce, plaintext, withKID(aad, r.current))
}

func (r *KeyRing) open(kid string, sealed, aad []byte) ([]byte, error) {
	aead, ok := r.aeads[kid]
	if !ok {
		return nil, fmt.Errorf("%w: key id %q (ring holds %s); put the key back in the ring, or have the user reconnect",
			ErrUnknownKey, kid, strings.Join(r.order, ", "))
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], withKID(aad, kid))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

func withKID(aad []byte, kid string) []byte {
	return appendField(append([]byte(nil), aad...), kid)
}

// appendField length-prefixes s, so ("ab","c") and ("a","bc") never
// encode alike.
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
