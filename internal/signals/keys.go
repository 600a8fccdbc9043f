package signals

import (
	"context"
	"github.com/actiongate/actiongate/internal/jwks"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keyStore is one transmitter's JWKS. The rules mirror internal/identity:
//   - first use, or keys older than maxAge: fetch before verifying; if that
//     fails the SET is answered 503 (the transmitter retries) — keys we can
//     no longer confirm are not trusted;
//   - keys older than refreshEvery: refetched in the background;
//   - an unknown kid refetches at most once per minRefetch. When the
//     limit stops a refetch the answer is 503, not 400: a transmitter that
//     just rotated its key must retry, not drop the event;
//   - a failed fetch is not retried for minRefetch (503 meanwhile).
//
// Fetches are serialised by mu; a caller waits for the one in progress and
// then sees its result.
type keyStore struct {
	url          string
	client       *http.Client
	clock        func() time.Time
	refreshEvery time.Duration
	maxAge       time.Duration
	minRefetch   time.Duration
	log          *slog.Logger

	state      atomic.Pointer[keyState]
	refreshing atomic.Bool
	fetches    atomic.Int64

	mu         sync.Mutex
	lastForced time.Time // last unknown-kid refetch
	lastFailed time.Time
}

type keyState struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// candidates are the keys that may have signed a SET with this header.
func (s *keyState) candidates(h setHeader) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range s.keys {
		if h.Kid != "" && k.KeyID != h.Kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != h.Alg {
			continue
		}
		out = append(out, k)
	}
	return out
}

// keysFor returns the keys to check a SET with header h against.
func (k *keyStore) keysFor(ctx context.Context, h setHeader) ([]jose.JSONWebKey, error) {
	now := k.clock()
	st := k.state.Load()
	if st == nil || now.Sub(st.fetched) > k.maxAge {
		var err error
		if st, err = k.fetchStale(ctx, st); err != nil {
			return nil, err
		}
	} else if now.Sub(st.fetched) > k.refreshEvery && k.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer k.refreshing.Store(false)
			k.mu.Lock()
			defer k.mu.Unlock()
			_, _ = k.fetchLocked(context.Background())
		}()
	}
	if c := st.candidates(h); len(c) > 0 {
		return c, nil
	}
	st, err := k.fetchUnknown(ctx, st)
	if err != nil {
		return nil, err
	}
	if c := st.candidates(h); len(c) > 0 {
		return c, nil
	}
	return nil, refuse(ErrCodeInvalidKey, "signing key is not in the transmitter's JWKS", "no key with kid "+quoteShort(h.Kid)+" and alg "+quoteShort(h.Alg)+" after refetching the JWKS")
}

// fetchStale loads keys when there are none or they are too old.
func (k *keyStore) fetchStale(ctx context.Context, seen *keyState) (*keyState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st := k.state.Load(); st != seen && st != nil && k.clock().Sub(st.fetched) <= k.maxAge {
		return st, nil // another caller fetched while we waited
	}
	if k.clock().Sub(k.lastFailed) < k.minRefetch {
		return nil, unavailable("transmitter keys are unavailable", "JWKS fetch failed recently; not retrying yet", nil)
	}
	st, err := k.fetchLocked(ctx)
	if err != nil {
		return nil, unavailable("transmitter keys are unavailable", "fetching the JWKS failed", err)
	}
	return st, nil
}

// fetchUnknown refetches for a kid we do not hold, within the rate limit.
func (k *keyStore) fetchUnknown(ctx context.Context, seen *keyState) (*keyState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st := k.state.Load(); st != seen {
		return st, nil // keys changed while we waited: look there first
	}
	now := k.clock()
	if now.Sub(k.lastForced) < k.minRefetch || now.Sub(k.lastFailed) < k.minRefetch {
		return nil, unavailable("signing key unknown; retry later",
			"unknown kid and the JWKS refetch is rate-limited", nil)
	}
	k.lastForced = now
	st, err := k.fetchLocked(ctx)
	if err != nil {
		return nil, unavailable("transmitter keys are unavailable", "refetching the JWKS for an unknown kid failed", err)
	}
	return st, nil
}

// fetchLocked fetches and installs the JWKS; k.mu must be held.
func (k *keyStore) fetchLocked(ctx context.Context) (*keyState, error) {
	keys, err := k.fetch(ctx)
	if err != nil {
		k.lastFailed = k.clock()
		k.log.Warn("signals: fetching transmitter keys failed; keeping the previous keys", "jwks_url", k.url, "error", err)
		return nil, err
	}
	st := &keyState{keys: keys, fetched: k.clock()}
	k.state.Store(st)
	return st, nil
}

func (k *keyStore) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.fetches.Add(1)
	// A receiver that gave up must not cancel the fetch others wait on.
	return jwks.Fetch(context.WithoutCancel(ctx), k.client, k.url)
}

// verifySignature checks raw's signature with the transmitter's keys and
// returns the verified payload.
func (k *keyStore) verifySignature(ctx context.Context, raw string, h setHeader, algs []jose.SignatureAlgorithm) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return nil, refuse(ErrCodeInvalidRequest, "body is not a valid JWS", "go-jose could not parse the JWS: "+err.Error())
	}
	keys, err := k.keysFor(ctx, h)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if payload, err := jws.Verify(keys[i].Key); err == nil {
			return payload, nil
		}
	}
	return nil, refuse(ErrCodeAuthenticationFailed, "signature does not verify", "no key of the transmitter verifies the signature")
}
