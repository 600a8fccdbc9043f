package identity

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for key-age rules.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeySet_UnknownKidRefetchIsRateLimited(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	clock := &fakeClock{}
	v := newVerifier(t, func(c *Config) { c.Clock = clock.now; c.CacheSize = -1 }, ti.URL())
	base := ti.jwksHits.Load()

	ti.addECKey(t, "ec-new") // the IdP rotates; the verifier has not seen it
	tok := ti.sign(t, "ec-new", ti.claims(), nil)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("first token with the new kid: %v", err)
	}
	if got := ti.jwksHits.Load() - base; got != 1 {
		t.Fatalf("JWKS hits = %d, want 1", got)
	}
	// Forged kids right after that refetch are refused without fetching.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), swapKid(t, tok, "forged"))
			if !errors.Is(err, ErrSignature) {
				t.Errorf("forged kid: err = %v", err)
			}
		})
	}
	wg.Wait()
	if got := ti.jwksHits.Load() - base; got != 1 {
		t.Errorf("JWKS hits after a burst of unknown kids = %d, want still 1", got)
	}
	clock.advance(11 * time.Second) // past MinKeyRefetchInterval
	if _, err := v.Verify(context.Background(), swapKid(t, tok, "forged")); !errors.Is(err, ErrSignature) {
		t.Errorf("err = %v", err)
	}
	if got := ti.jwksHits.Load() - base; got != 2 {
		t.Errorf("JWKS hits after the interval = %d, want 2", got)
	}
	// A burst once the interval has passed again costs exactly one fetch.
	clock.advance(11 * time.Second)
	for range 20 {
		wg.Go(func() { _, _ = v.Verify(context.Background(), swapKid(t, tok, "forged")) })
	}
	wg.Wait()
	if got := ti.jwksHits.Load() - base; got != 3 {
		t.Errorf("JWKS hits after a second burst = %d, want 3", got)
	}
}

func TestKeySet_BadSignatureDoesNotRefetch(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	v := newVerifier(t, func(c *Config) { c.CacheSize = -1 }, ti.URL())
	base := ti.jwksHits.Load()
	bad := tamperSignature(t, ti.sign(t, "rsa-1", ti.claims(), nil))
	for range 5 {
		if _, err := v.Verify(context.Background(), bad); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v", err)
		}
	}
	if got := ti.jwksHits.Load() - base; got != 0 {
		t.Errorf("forged signatures caused %d JWKS fetches, want 0", got)
	}
}

func TestKeySet_StalenessBounds(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	clock := &fakeClock{}
	v := newVerifier(t, func(c *Config) {
		c.Clock = clock.now
		c.CacheSize = -1
		c.KeyRefreshInterval = time.Minute
		c.KeyMaxAge = 10 * time.Minute
	}, ti.URL())
	ks := v.issuers[ti.URL()].keys
	tok := func() string {
		c := ti.claims()
		c["exp"] = clock.now().Add(time.Minute).Unix()
		c["iat"], c["nbf"] = clock.now().Unix(), clock.now().Unix()
		return ti.sign(t, "rsa-1", c, nil)
	}
	base := ti.jwksHits.Load()

	clock.advance(2 * time.Minute) // older than the refresh interval: refetched in the background
	if _, err := v.Verify(context.Background(), tok()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "background refresh", func() bool { return ti.jwksHits.Load()-base == 1 && ks.state.Load().fetched.After(time.Now()) })

	ti.jwksBroke.Store(true) // the IdP's JWKS goes down
	clock.advance(9 * time.Minute)
	if _, err := v.Verify(context.Background(), tok()); err != nil {
		t.Fatalf("keys within max age must keep serving while refresh fails: %v", err)
	}
	clock.advance(2 * time.Minute) // past max age with no successful refresh: fail closed
	if _, err := v.Verify(context.Background(), tok()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stale keys: err = %v, want ErrUnavailable", err)
	}
	hits := ti.jwksHits.Load()
	if _, err := v.Verify(context.Background(), tok()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if ti.jwksHits.Load() != hits {
		t.Error("a failed refetch was retried at once (not rate-limited)")
	}
	ti.jwksBroke.Store(false)
	clock.advance(11 * time.Second)
	if _, err := v.Verify(context.Background(), tok()); err != nil {
		t.Fatalf("after the JWKS recovered: %v", err)
	}
}
