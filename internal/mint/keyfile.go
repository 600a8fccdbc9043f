package mint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/actiongate/actiongate/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keyFileSuffix names key files: <kid>.json. Anything else in the
// directory, and every name starting with '.' (temporary files, and the
// ..data links of a Kubernetes Secret volume), is ignored.
const keyFileSuffix = ".json"

// maxKeyFileBytes bounds a key file; a real one is about 400 bytes.
const maxKeyFileBytes = 64 << 10

// keyFile is the on-disk form of one signing key. The kid is the RFC 7638
// SHA-256 thumbprint of the public key, so a file whose kid and key
// disagree is detected rather than trusted.
type keyFile struct {
	KeyID       string          `json:"kid"`
	Created     time.Time       `json:"created"`
	ActivatesAt time.Time       `json:"activates_at"`
	Key         json.RawMessage `json:"key"` // private JWK
}

// ringKey is a loaded key: its schedule, private key, public JWK and the
// encoded JOSE header of every token it signs (computed once).
type ringKey struct {
	kid       string
	created   time.Time
	activates time.Time
	priv      *ecdsa.PrivateKey
	public    jose.JSONWebKey
	header    string // base64url({"alg":"ES256","kid":…,"typ":"at+jwt"})
}

// newRingKey generates a P-256 key that becomes the signing key at
// activates.
func newRingKey(created, activates time.Time) (*ringKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return buildRingKey(priv, created.UTC(), activates.UTC())
}

func buildRingKey(priv *ecdsa.PrivateKey, created, activates time.Time) (*ringKey, error) {
	if priv.Curve != elliptic.P256() {
		return nil, errors.New("key is not on P-256")
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	pub.KeyID = kid
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(jose.ES256), kid, "at+jwt"})
	if err != nil {
		return nil, err
	}
	header := base64.RawURLEncoding.EncodeToString(hdr)
	return &ringKey{kid: kid, created: created, activates: activates, priv: priv, public: pub, header: header}, nil
}

// sign returns the compact JWS of payload (RFC 7515 §7.1) under k's
// header, signed ES256 (RFC 7518 §3.4: R and S as 32 big-endian bytes
// each). It is go-jose's output without go-jose's per-call header
// marshalling, map sorting and reflection: one buffer, one signature.
func (k *ringKey) sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(k.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(64))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", err
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig[:])
	return string(buf), nil
}

func (k *ringKey) marshal() ([]byte, error) {
	priv := jose.JSONWebKey{Key: k.priv, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"}
	raw, err := priv.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(keyFile{KeyID: k.kid, Created: k.created, ActivatesAt: k.activates, Key: raw}, "", "  ")
}

// parseKeyFile decodes and checks one key file: a P-256 private key whose
// thumbprint is the kid, which is also the file name.
func parseKeyFile(name string, data []byte) (*ringKey, error) {
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(f.Key); err != nil {
		return nil, fmt.Errorf("decoding key: %w", err)
	}
	priv, ok := jwk.Key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("key is not an ECDSA private key")
	}
	if f.Created.IsZero() || f.ActivatesAt.IsZero() {
		return nil, errors.New("created and activates_at are required")
	}
	k, err := buildRingKey(priv, f.Created.UTC(), f.ActivatesAt.UTC())
	if err != nil {
		return nil, err
	}
	if f.KeyID != k.kid {
		return nil, errors.New("kid is not the key's RFC 7638 thumbprint")
	}
	if name != k.kid+keyFileSuffix {
		return nil, errors.New("file name is not <kid>.json")
	}
	return k, nil
}

// writeKeyFile stores k atomically: a 0600 temporary file in the same
// directory, synced, then renamed over <kid>.json and the directory
// synced, so a reader (another replica) sees the whole file or none.
func writeKeyFile(dir string, k *ringKey) error {
	data, err := k.marshal()
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, k.kid+keyFileSuffix), data, 0o600, atomicfile.Options{})
}

// readKeyDir loads every key file of dir. One bad file fails the whole
// read: a half-understood ring could publish fewer keys than another
// replica signs with.
func readKeyDir(dir string) ([]*ringKey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var keys []*ringKey
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, keyFileSuffix) {
			continue
		}
		data, err := readBounded(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", name, err)
		}
		k, err := parseKeyFile(name, data)
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", name, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileBytes {
		return nil, errors.New("larger than a key file can be")
	}
	return data, nil
}
