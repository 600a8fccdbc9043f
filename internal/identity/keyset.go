package identity

import (
	"context"
	"errors"
	"github.com/actiongate/actiongate/internal/jwks"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet is one issuer's JWKS, shared by every verification of its tokens.
// It replaces go-oidc's RemoteKeySet, which dedupes concurrent refetches but
// refetches on every unknown kid and on every failed signature (a forged
// token costs an HTTP round trip to the IdP) and never refreshes keys that
// keep verifying (a key the IdP withdrew stays trusted until some other key
// is missing). Here:
//   - an unknown kid refetches at most once per minRefetch (rate limit),
//     deduplicated across goroutines; a bad signature by a known key never
//     refetches;
//   - keys older than refreshEvery are refetched in the background while
//     the current ones keep serving;
//   - keys older than maxAge (no successful fetch since) are refused and
//     verification fails closed with ErrUnavailable, so a withdrawn key is
//     trusted for at most maxAge.
//
// go-oidc's IDTokenVerifier calls VerifySignature; the network is touched
// only by ensure, which Verify calls first, so errors keep their kind.
type keySet struct {
	issuer       string
	url          string
	client       *http.Client
	clock        func() time.Time
	algs         []jose.SignatureAlgorithm
	refreshEvery time.Duration
	maxAge       time.Duration
	minRefetch   time.Duration
	log          *slog.Logger

	state      atomic.Pointer[keyState]
	lastForced atomic.Int64 // unix nanos of the last unknown-kid refetch
	lastFailed atomic.Int64 // unix nanos of the last failed fetch
	fetches    atomic.Int64 // JWKS requests made, for tests and metrics

	mu       sync.Mutex
	inflight *fetchCall
}

type keyState struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func (s *keyState) has(kid string) bool {
	if kid == "" {
		return len(s.keys) > 0
	}
	for i := range s.keys {
		if s.keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

// ensure makes sure the key a token names is loaded, fetching the JWKS when
// the rules above allow, and reports ErrSignature (unknown key) or
// ErrUnavailable (keys cannot be had).
func (k *keySet) ensure(ctx context.Context, kid string) error {
	now := k.clock()
	st := k.state.Load()
	if st == nil || now.Sub(st.fetched) > k.maxAge {
		if now.UnixNano()-k.lastFailed.Load() < int64(k.minRefetch) {
			return fail(ErrUnavailable, "issuer keys are too old and the last refetch failed")
		}
		if err := k.refresh(ctx); err != nil {
			return failWith(ErrUnavailable, "issuer keys are missing or too old and could not be refetched", err)
		}
		st = k.state.Load()
	} else if now.Sub(st.fetched) > k.refreshEvery {
		k.start()
	}
	if st.has(kid) {
		return nil
	}
	last := k.lastForced.Load()
	if now.UnixNano()-last < int64(k.minRefetch) || !k.lastForced.CompareAndSwap(last, now.UnixNano()) {
		return fail(ErrSignature, "unknown signing key (refetch rate-limited)")
	}
	if err := k.refresh(ctx); err != nil {
		return failWith(ErrUnavailable, "refetching issuer keys for an unknown key id", err)
	}
	if !k.state.Load().has(kid) {
		return fail(ErrSignature, "unknown signing key")
	}
	return nil
}

// refresh fetches the JWKS (joining a fetch already in flight) and waits
// for it or for ctx.
func (k *keySet) refresh(ctx context.Context) error {
	call := k.start()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start begins a fetch unless one is in flight. The fetch runs on its own
// context: one caller giving up must not fail the others waiting on it.
func (k *keySet) start() *fetchCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.inflight != nil {
		return k.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	k.inflight = call
	go func() {
		keys, err := k.fetch()
		k.mu.Lock()
		if err == nil {
			k.state.Store(&keyState{keys: keys, fetched: k.clock()})
		}
		k.inflight = nil
		k.mu.Unlock()
		if err != nil {
			k.lastFailed.Store(k.clock().UnixNano())
			k.log.Warn("identity: fetching issuer keys failed; keeping the previous keys",
				"issuer", k.issuer, "error", err)
		}
		call.err = err
		close(call.done)
	}()
	return call
}

func (k *keySet) fetch() ([]jose.JSONWebKey, error) {
	k.fetches.Add(1)
	return jwks.Fetch(context.Background(), k.client, k.url)
}

// VerifySignature implements go-oidc's KeySet with the keys already
// loaded; it never fetches (ensure did that).
func (k *keySet) VerifySignature(_ context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, k.algs)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must carry exactly one signature")
	}
	hdr := jws.Signatures[0].Header
	st := k.state.Load()
	if st == nil {
		return nil, errors.New("no keys loaded")
	}
	for i := range st.keys {
		key := &st.keys[i]
		if hdr.KeyID != "" && key.KeyID != hdr.KeyID {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != hdr.Algorithm {
			continue
		}
		if payload, err := jws.Verify(key.Key); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("no key of the issuer verifies the signature")
}
