package mint

import (
	"context"
	"errors"
	"fmt"
	"github.com/actiongate/actiongate/internal/atomicfile"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults shared by the key ring and the minter: a retired key must stay
// published for as long as a token it signed can still be accepted.
const (
	DefaultLifetime         = 5 * time.Minute
	DefaultMaxLifetime      = 10 * time.Minute
	DefaultClockSkew        = time.Minute
	DefaultPropagationDelay = time.Minute
)

// KeyRingOptions configure LoadKeyRing. Zero values take the defaults.
type KeyRingOptions struct {
	// PropagationDelay is how long a rotated-in key is published before
	// it signs anything (default 1m). It must exceed the time every
	// replica needs to load it (poll interval, Secret volume propagation)
	// and the time upstreams may cache the JWKS without refetching.
	PropagationDelay time.Duration
	// MaxTokenLifetime is the longest lifetime any minter using this ring
	// may issue (default DefaultMaxLifetime); NewMinter refuses more.
	MaxTokenLifetime time.Duration
	// ClockSkew tolerated between us and upstreams (default 1m).
	ClockSkew time.Duration
	// RetainAfterRetire is how long a key stays in the JWKS after a newer
	// key took over signing (default MaxTokenLifetime + ClockSkew). It may
	// not be shorter than that, or a token in flight would stop verifying.
	RetainAfterRetire time.Duration
	// ReadOnly never writes: the directory is a mounted Secret updated by
	// an operator. An empty directory is then an error, and Rotate and
	// Prune refuse.
	ReadOnly bool
	// Clock for JWKS, Key and signing-key choice (default time.Now).
	Clock  func() time.Time
	Logger *slog.Logger
}

func (o KeyRingOptions) withDefaults() (KeyRingOptions, error) {
	if o.PropagationDelay < 0 || o.MaxTokenLifetime < 0 || o.ClockSkew < 0 || o.RetainAfterRetire < 0 {
		return o, errors.New("mint: key ring durations must not be negative")
	}
	if o.PropagationDelay == 0 {
		o.PropagationDelay = DefaultPropagationDelay
	}
	if o.MaxTokenLifetime == 0 {
		o.MaxTokenLifetime = DefaultMaxLifetime
	}
	if o.ClockSkew == 0 {
		o.ClockSkew = DefaultClockSkew
	}
	floor := o.MaxTokenLifetime + o.ClockSkew
	if o.RetainAfterRetire == 0 {
		o.RetainAfterRetire = floor
	}
	if o.RetainAfterRetire < floor {
		return o, fmt.Errorf("mint: RetainAfterRetire %v is shorter than MaxTokenLifetime + ClockSkew (%v): tokens in flight would stop verifying",
			o.RetainAfterRetire, floor)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// KeyRing holds the ES256 signing keys, one file per key in a directory
// that several replicas share. Which key signs and which keys are
// published is a pure function of the key files' schedules and the time,
// so replicas that have loaded the same files agree without talking to
// each other. Safe for concurrent use.
type KeyRing struct {
	dir  string
	opts KeyRingOptions

	state atomic.Pointer[ringState]
	mu    sync.Mutex // serialises Reload, Rotate and Prune in this process
}

// ringState is one immutable view of the directory, keys sorted by
// activation (then creation, then kid, so every replica orders alike).
type ringState struct {
	keys []*ringKey
}

// KeyInfo describes one key of the ring at a moment.
type KeyInfo struct {
	KeyID       string
	Created     time.Time
	ActivatesAt time.Time
	// RetiredAt is when a newer key took over (zero while it has not).
	RetiredAt time.Time
	Signing   bool
	Published bool
}

// LoadKeyRing loads the keys in dir, creating the directory (0700) and a
// first key, active at once, when there are none (unless ReadOnly).
func LoadKeyRing(dir string, opts KeyRingOptions) (*KeyRing, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &KeyRing{dir: dir, opts: opts}
	if !opts.ReadOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("mint: key directory: %w", err)
		}
	}
	keys, err := readKeyDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mint: loading keys from %s: %w", dir, err)
	}
	if len(keys) == 0 {
		if opts.ReadOnly {
			return nil, fmt.Errorf("mint: no signing keys in %s (read-only)", dir)
		}
		// Backdated by the skew so a replica whose clock is a little behind
		// can sign with the first key too; nothing older exists to retire.
		now := opts.Clock()
		k, err := newRingKey(now, now.Add(-opts.ClockSkew))
		if err != nil {
			return nil, err
		}
		if err := writeKeyFile(dir, k); err != nil {
			return nil, fmt.Errorf("mint: writing the first key: %w", err)
		}
		opts.Logger.Info("mint: created the first signing key", "kid", k.kid, "dir", dir)
		// Read back: a replica starting at the same moment may have
		// written one too, and all must see the same set.
		if keys, err = readKeyDir(dir); err != nil {
			return nil, fmt.Errorf("mint: loading keys from %s: %w", dir, err)
		}
	}
	r.state.Store(newRingState(keys, nil))
	return r, nil
}

// newRingState sorts keys, reusing the already-built signer of any key
// prev holds (the kid is the key's thumbprint, so same kid = same key).
func newRingState(keys []*ringKey, prev *ringState) *ringState {
	if prev != nil {
		for i, k := range keys {
			if j := slices.IndexFunc(prev.keys, func(p *ringKey) bool { return p.kid == k.kid }); j >= 0 {
				if old := prev.keys[j]; old.activates.Equal(k.activates) && old.created.Equal(k.created) {
					keys[i] = old
				}
			}
		}
	}
	slices.SortFunc(keys, func(a, b *ringKey) int {
		if c := a.activates.Compare(b.activates); c != 0 {
			return c
		}
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		switch {
		case a.kid < b.kid:
			return -1
		case a.kid > b.kid:
			return 1
		}
		return 0
	})
	return &ringState{keys: keys}
}

// signingIndex is the index of the key that signs at now: the latest
// activated one. -1 when none has activated yet.
func (s *ringState) signingIndex(now time.Time) int {
	for i := len(s.keys) - 1; i >= 0; i-- {
		if !s.keys[i].activates.After(now) {
			return i
		}
	}
	return -1
}

// retiredAt is when key i stopped signing: when its successor activated,
// if that has happened by now.
func (s *ringState) retiredAt(i int, now time.Time) (time.Time, bool) {
	if i+1 < len(s.keys) && !s.keys[i+1].activates.After(now) {
		return s.keys[i+1].activates, true
	}
	return time.Time{}, false
}

// published reports whether key i is in the JWKS at now: future keys (so
// upstreams learn them before they sign), the signing key, and retired
// keys for retain after they retired.
func (s *ringState) published(i int, now time.Time, retain time.Duration) bool {
	retired, ok := s.retiredAt(i, now)
	return !ok || now.Before(retired.Add(retain))
}

// Reload re-reads the directory, picking up keys another replica wrote
// and dropping keys another replica pruned. On any error — an unreadable
// or inconsistent file, or a set with no key active now — the ring keeps
// what it had and the error says why.
func (r *KeyRing) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *KeyRing) reloadLocked() error {
	keys, err := readKeyDir(r.dir)
	if err != nil {
		return fmt.Errorf("mint: reloading keys from %s: %w", r.dir, err)
	}
	next := newRingState(keys, r.state.Load())
	if next.signingIndex(r.opts.Clock()) < 0 {
		return fmt.Errorf("mint: reloading keys from %s: no key would be active; keeping the current keys", r.dir)
	}
	r.state.Store(next)
	return nil
}

// Watch reloads every interval until ctx ends, logging (never returning)
// failures: the ring keeps serving its last good keys.
func (r *KeyRing) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Reload(); err != nil {
				r.opts.Logger.Warn("mint: key reload failed; keeping the current keys", "error", err)
			}
		}
	}
}

// Rotate writes a new key that is published at once and signs from
// now + PropagationDelay; the key it replaces keeps verifying for
// RetainAfterRetire after that. Keys past retention are pruned. It
// returns the new kid.
func (r *KeyRing) Rotate(now time.Time) (string, error) {
	if r.opts.ReadOnly {
		return "", errors.New("mint: the key ring is read-only")
	}
	k, err := newRingKey(now, now.Add(r.opts.PropagationDelay))
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := writeKeyFile(r.dir, k); err != nil {
		return "", fmt.Errorf("mint: writing the new key: %w", err)
	}
	if err := r.reloadLocked(); err != nil {
		return "", err
	}
	r.opts.Logger.Info("mint: rotated signing key", "kid", k.kid, "activates_at", k.activates)
	if _, err := r.pruneLocked(now); err != nil {
		r.opts.Logger.Warn("mint: pruning retired keys failed", "error", err)
	}
	return k.kid, nil
}

// EmergencyRotate is for a leaked key: it writes a new key that signs at
// once and deletes every other key file, so tokens signed before stop
// verifying as soon as upstreams refetch the JWKS (an unknown kid makes
// them) and other replicas reload. It returns the new kid.
func (r *KeyRing) EmergencyRotate(now time.Time) (string, error) {
	if r.opts.ReadOnly {
		return "", errors.New("mint: the key ring is read-only")
	}
	// Backdated by the skew, like the first key: it must sign everywhere
	// at once, and there is nothing left for it to wait for.
	k, err := newRingKey(now, now.Add(-r.opts.ClockSkew))
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := writeKeyFile(r.dir, k); err != nil {
		return "", fmt.Errorf("mint: writing the new key: %w", err)
	}
	keys, err := readKeyDir(r.dir)
	if err != nil {
		return "", fmt.Errorf("mint: reading keys: %w", err)
	}
	for _, old := range keys {
		if old.kid == k.kid {
			continue
		}
		if err := os.Remove(filepath.Join(r.dir, old.kid+keyFileSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("mint: deleting key %s: %w", old.kid, err)
		}
	}
	if err := atomicfile.SyncDir(r.dir); err != nil {
		return "", err
	}
	r.opts.Logger.Warn("mint: emergency rotation: every previous signing key withdrawn", "kid", k.kid)
	return k.kid, r.reloadLocked()
}

// Prune deletes the files of keys whose retention ended by now and
// returns their kids. The signing key and future keys are never pruned.
func (r *KeyRing) Prune(now time.Time) ([]string, error) {
	if r.opts.ReadOnly {
		return nil, errors.New("mint: the key ring is read-only")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pruneLocked(now)
}

func (r *KeyRing) pruneLocked(now time.Time) ([]string, error) {
	st := r.state.Load()
	var gone []string
	for i, k := range st.keys {
		if st.published(i, now, r.opts.RetainAfterRetire) {
			continue
		}
		err := os.Remove(filepath.Join(r.dir, k.kid+keyFileSuffix))
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // another replica may have pruned it
			return gone, fmt.Errorf("mint: pruning key %s: %w", k.kid, err)
		}
		gone = append(gone, k.kid)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if err := atomicfile.SyncDir(r.dir); err != nil {
		return gone, err
	}
	return gone, r.reloadLocked()
}

// signer is the key that signs at now.
func (r *KeyRing) signer(now time.Time) (*ringKey, error) {
	st := r.state.Load()
	i := st.signingIndex(now)
	if i < 0 {
		return nil, fail(ErrNoSigningKey, "every key activates in the future")
	}
	return st.keys[i], nil
}

// JWKS is the public JSON Web Key Set at the ring's clock's now: future
// keys, the signing key, and retired keys still within retention. It never
// contains private key material.
func (r *KeyRing) JWKS() jose.JSONWebKeySet {
	now := r.opts.Clock()
	st := r.state.Load()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(st.keys))}
	for i := len(st.keys) - 1; i >= 0; i-- { // newest first
		if st.published(i, now, r.opts.RetainAfterRetire) {
			set.Keys = append(set.Keys, st.keys[i].public)
		}
	}
	return set
}

// Key returns the published public key kid at the ring's clock's now; it
// makes KeyRing a KeySource for verifying locally (introspection).
func (r *KeyRing) Key(_ context.Context, kid string) (jose.JSONWebKey, error) {
	now := r.opts.Clock()
	st := r.state.Load()
	for i, k := range st.keys {
		if k.kid == kid && st.published(i, now, r.opts.RetainAfterRetire) {
			return k.public, nil
		}
	}
	return jose.JSONWebKey{}, fail(ErrBadSignature, "unknown or withdrawn signing key")
}

// Keys describes every key loaded, oldest activation first, at now.
func (r *KeyRing) Keys(now time.Time) []KeyInfo {
	st := r.state.Load()
	signing := st.signingIndex(now)
	out := make([]KeyInfo, len(st.keys))
	for i, k := range st.keys {
		retired, _ := st.retiredAt(i, now)
		out[i] = KeyInfo{
			KeyID: k.kid, Created: k.created, ActivatesAt: k.activates, RetiredAt: retired,
			Signing: i == signing, Published: st.published(i, now, r.opts.RetainAfterRetire),
		}
	}
	return out
}

// Options returns the ring's effective options (defaults applied).
func (r *KeyRing) Options() KeyRingOptions { return r.opts }
