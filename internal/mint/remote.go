package mint

import (
	"cmp"
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

// remoteKeys is the gateway's JWKS as an upstream sees it over HTTP:
//   - fetched on first use, not at construction;
//   - an unknown kid refetches at most once per minRefetch, deduplicated
//     across goroutines, so forged kids cannot make us hammer the gateway;
//     a known kid with a bad signature never refetches;
//   - keys older than refresh are refetched in the background;
//   - keys older than maxAge with no successful refetch are refused
//     (ErrUnavailable): a withdrawn key is trusted for at most maxAge.
type remoteKeys struct {
	url        string
	client     *http.Client
	clock      func() time.Time
	minRefetch time.Duration
	refresh    time.Duration
	maxAge     time.Duration
	log        *slog.Logger

	state      atomic.Pointer[remoteState]
	lastForced atomic.Int64 // unix nanos of the last unknown-kid refetch
	lastFailed atomic.Int64 // unix nanos of the last failed fetch

	mu       sync.Mutex
	inflight *fetchCall
}

type remoteState struct {
	keys    map[string]jose.JSONWebKey
	fetched time.Time
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newRemoteKeys(cfg VerifierConfig) (*remoteKeys, error) {
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rk := &remoteKeys{
		url: cfg.JWKSURL, client: client, clock: cfg.Clock, log: log,
		minRefetch: cmp.Or(cfg.MinRefetchInterval, 10*time.Second),
		refresh:    cmp.Or(cfg.RefreshInterval, 5*time.Minute),
		maxAge:     cmp.Or(cfg.MaxKeyAge, time.Hour),
	}
	if rk.refresh > rk.maxAge {
		return nil, errors.New("mint: RefreshInterval must not exceed MaxKeyAge")
	}
	return rk, nil
}

// Key implements KeySource.
func (k *remoteKeys) Key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	now := k.clock()
	st := k.state.Load()
	if st == nil || now.Sub(st.fetched) > k.maxAge {
		if now.UnixNano()-k.lastFailed.Load() < int64(k.minRefetch) {
			return jose.JSONWebKey{}, fail(ErrUnavailable, "keys are missing or too old and the last fetch failed")
		}
		if err := k.wait(ctx); err != nil {
			return jose.JSONWebKey{}, failWith(ErrUnavailable, "fetching the JWKS", err)
		}
		st = k.state.Load()
	} else if now.Sub(st.fetched) > k.refresh {
		k.start()
	}
	if key, ok := st.keys[kid]; ok {
		return key, nil
	}
	// Decide under the fetch lock, so a caller that arrives while another
	// refetch for an unknown kid is starting or running joins it (the new
	// key after a rotation is asked for by many calls at once) instead of
	// being refused by the rate limit.
	k.mu.Lock()
	call := k.inflight
	if call == nil {
		if now.UnixNano()-k.lastForced.Load() < int64(k.minRefetch) {
			k.mu.Unlock()
			if key, ok := k.state.Load().keys[kid]; ok {
				return key, nil
			}
			return jose.JSONWebKey{}, fail(ErrBadSignature, "unknown signing key (refetch rate-limited)")
		}
		k.lastForced.Store(now.UnixNano())
		call = k.startLocked()
	}
	k.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return jose.JSONWebKey{}, failWith(ErrUnavailable, "refetching the JWKS for an unknown key", ctx.Err())
	}
	if call.err != nil {
		if key, ok := k.state.Load().keys[kid]; ok {
			return key, nil
		}
		return jose.JSONWebKey{}, failWith(ErrUnavailable, "refetching the JWKS for an unknown key", call.err)
	}
	if key, ok := k.state.Load().keys[kid]; ok {
		return key, nil
	}
	return jose.JSONWebKey{}, fail(ErrBadSignature, "unknown signing key")
}

// wait joins or starts a fetch and waits for it or for ctx.
func (k *remoteKeys) wait(ctx context.Context) error {
	call := k.start()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start begins a fetch unless one is in flight. The fetch has its own
// context: one caller giving up must not fail the others waiting on it.
func (k *remoteKeys) start() *fetchCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.startLocked()
}

// startLocked is start with k.mu held.
func (k *remoteKeys) startLocked() *fetchCall {
	if k.inflight != nil {
		return k.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	k.inflight = call
	go func() {
		keys, err := k.fetch()
		k.mu.Lock()
		if err == nil {
			k.state.Store(&remoteState{keys: keys, fetched: k.clock()})
		}
		k.inflight = nil
		k.mu.Unlock()
		if err != nil {
			k.lastFailed.Store(k.clock().UnixNano())
			k.log.Warn("mint: fetching the gateway JWKS failed; keeping the previous keys", "url", k.url, "error", err)
		}
		call.err = err
		close(call.done)
	}()
	return call
}

func (k *remoteKeys) fetch() (map[string]jose.JSONWebKey, error) {
	set, err := jwks.Fetch(context.Background(), k.client, k.url)
	if err != nil {
		return nil, err
	}
	return es256Keys(set)
}

// es256Keys keeps the keys a minted token can be signed with: ES256 (or no
// alg stated) and a kid to find them by.
func es256Keys(set []jose.JSONWebKey) (map[string]jose.JSONWebKey, error) {
	keys := make(map[string]jose.JSONWebKey, len(set))
	for _, k := range set {
		if k.KeyID != "" && (k.Algorithm == "" || k.Algorithm == string(jose.ES256)) {
			keys[k.KeyID] = k
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no usable ES256 signature keys")
	}
	return keys, nil
}
