// Package jwks fetches and reads a remote JSON Web Key Set: the one way
// ActionGate loads signature keys it does not hold itself (an OpenID
// Provider's keys, the gateway's own JWKS as an upstream sees it, an SSF
// transmitter's keys). Caching and refetch policy stay with the callers,
// whose threat models differ.
package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// MaxBytes bounds a JWKS document: real ones are a few KiB.
const MaxBytes = 1 << 20

// DefaultTimeout bounds a fetch when the client sets no timeout.
const DefaultTimeout = 10 * time.Second

// Fetch GETs the key set at url and returns its usable public signature
// keys (see Parse). ctx bounds the request along with the client's own
// timeout (DefaultTimeout when it has none).
func Fetch(ctx context.Context, client *http.Client, url string) ([]jose.JSONWebKey, error) {
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if len(body) > MaxBytes {
		return nil, fmt.Errorf("GET %s: JWKS larger than %d bytes", url, MaxBytes)
	}
	return Parse(body)
}

// Parse keeps the public signature keys it understands and skips the rest
// (RFC 7517 §5: ignore what is not understood): encryption keys, symmetric
// keys, keys go-jose cannot parse. A set with none left is an error.
func Parse(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := json.Unmarshal(raw, &key); err != nil {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		pub := key.Public()
		if !pub.Valid() || !pub.IsPublic() {
			continue
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no usable signature keys")
	}
	return keys, nil
}
