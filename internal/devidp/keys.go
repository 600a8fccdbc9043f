package devidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// signingKey is one of the OP's ES256 keys (P-256: generated in
// microseconds, so every test can start its own IdP). It is op.SigningKey
// (private side) and, through publicKey, op.Key (what the JWKS publishes).
type signingKey struct {
	id      string
	priv    *ecdsa.PrivateKey
	retired time.Time // zero while it is the current key
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.priv.PublicKey }

// keyRing holds the current signing key and the retired ones still
// published so tokens they signed keep verifying for the grace period.
type keyRing struct {
	mu      sync.Mutex
	current *signingKey
	retired []*signingKey
	grace   time.Duration
}

func newKeyRing(grace time.Duration) (*keyRing, error) {
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	return &keyRing{current: k, grace: grace}, nil
}

func newSigningKey() (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &signingKey{id: base64.RawURLEncoding.EncodeToString(id), priv: priv}, nil
}

func (r *keyRing) signing() *signingKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// published returns the current key and the retired keys still in grace,
// dropping the ones past it.
func (r *keyRing) published(now time.Time) []op.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.retired[:0]
	for _, k := range r.retired {
		if now.Sub(k.retired) < r.grace {
			keep = append(keep, k)
		}
	}
	r.retired = keep
	keys := []op.Key{publicKey{r.current}}
	for _, k := range r.retired {
		keys = append(keys, publicKey{k})
	}
	return keys
}

func (r *keyRing) rotate(now time.Time) (string, error) {
	k, err := newSigningKey()
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current.retired = now
	r.retired = append(r.retired, r.current)
	r.current = k
	return k.id, nil
}

// DevUserKeySeed is the PUBLIC seed every dev user's assertion key is
// derived from. Anyone who knows a user's subject can sign a JWT-bearer
// assertion for them: that is what lets `actiongate dev token` run in
// another process with no files to share, and why the dev IdP only ever
// listens on loopback and must never hold real users.
const DevUserKeySeed = "actiongate devidp user assertion key v1 (public; dev only)"

// userKey derives the dev user's P-256 assertion key from DevUserKeySeed
// and the subject, and its key id (the RFC 7638 thumbprint).
func userKey(subject string) (*ecdsa.PrivateKey, string, error) {
	for counter := uint32(0); counter < 16; counter++ {
		h := sha256.New()
		h.Write([]byte(DevUserKeySeed))
		h.Write([]byte{0})
		h.Write([]byte(subject))
		h.Write(binary.BigEndian.AppendUint32(nil, counter))
		// A digest at or above the group order (probability ~2^-32) is
		// rejected by ParseRawPrivateKey; the counter picks the next one.
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), h.Sum(nil))
		if err != nil {
			continue
		}
		jwk := jose.JSONWebKey{Key: &priv.PublicKey}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, "", err
		}
		return priv, base64.RawURLEncoding.EncodeToString(tp), nil
	}
	return nil, "", errors.New("devidp: could not derive a user key")
}
