package mint

import (
	"errors"
	"sync"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

// RevocationList tells the minter and the introspection endpoint about
// revoked users and agents. The gateway feeds it from `actiongate revoke`
// (replicated to every replica); Revocations is an in-memory one.
type RevocationList interface {
	// RevokedAt reports the latest revocation that applies to user, to
	// agent, or to agent acting for user — at, the moment it took effect
	// (zero if there never was one) — and whether it is still in force.
	//
	// Two rules follow, the same for minting and introspection:
	//   - in force: nothing is minted for the pair and no token of it is
	//     active, whenever it was issued;
	//   - lifted: tokens issued at or before at stay invalid (a lift must
	//     not resurrect tokens the revocation killed); newer ones are fine.
	RevokedAt(user, agent string) (at time.Time, inForce bool)
}

// revokedFor applies RevocationList's rules to a token for user through
// actors issued at iat (whole seconds, as in the token). Every actor of the
// chain is checked: revoking an agent also stops delegations through it.
func revokedFor(rl RevocationList, user string, actors []principal.Actor, iat time.Time) bool {
	if rl == nil {
		return false
	}
	for _, a := range actors {
		at, inForce := rl.RevokedAt(user, a.Subject)
		if inForce || (!at.IsZero() && !at.Before(iat)) {
			return true
		}
	}
	return false
}

// revokedNow: a revocation of the user or an actor is in force. Minting
// asks only this: a token minted after a lift is issued after it, even
// within the same second (iat has whole seconds), so the "issued at or
// before the revocation" rule that keeps old tokens dead does not apply.
func revokedNow(rl RevocationList, user string, actors []principal.Actor) bool {
	if rl == nil {
		return false
	}
	for _, a := range actors {
		if _, inForce := rl.RevokedAt(user, a.Subject); inForce {
			return true
		}
	}
	return false
}

// Revocations is an in-memory RevocationList, safe for concurrent use.
// An entry names a user, an agent, or one agent acting for one user.
type Revocations struct {
	mu      sync.RWMutex
	entries map[revocationKey]revocation
}

type revocationKey struct{ user, agent string }

type revocation struct {
	at      time.Time
	inForce bool
}

// NewRevocations returns an empty list.
func NewRevocations() *Revocations {
	return &Revocations{entries: make(map[revocationKey]revocation)}
}

// Revoke puts a revocation in force from at. user "" revokes agent for
// every user; agent "" revokes every agent acting for user.
func (r *Revocations) Revoke(user, agent string, at time.Time) error {
	if user == "" && agent == "" {
		return errors.New("mint: revoke needs a user, an agent or both")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := revocationKey{user, agent}
	if prev, ok := r.entries[k]; ok && prev.at.After(at) {
		at = prev.at
	}
	r.entries[k] = revocation{at: at, inForce: true}
	return nil
}

// Lift ends a revocation. Its time is kept, so tokens issued before it
// stay invalid; new ones may be minted.
func (r *Revocations) Lift(user, agent string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := revocationKey{user, agent}
	if e, ok := r.entries[k]; ok {
		e.inForce = false
		r.entries[k] = e
	}
}

// Forget drops lifted revocations older than before. Pass a time at least
// the maximum token lifetime plus clock skew ago: after that no token the
// revocation could have killed is still unexpired.
func (r *Revocations) Forget(before time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, e := range r.entries {
		if !e.inForce && e.at.Before(before) {
			delete(r.entries, k)
			n++
		}
	}
	return n
}

// RevokedAt implements RevocationList: the latest of the user's, the
// agent's and the pair's revocations, in force if any of them is.
func (r *Revocations) RevokedAt(user, agent string) (time.Time, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var at time.Time
	inForce := false
	for _, k := range [...]revocationKey{{user, ""}, {"", agent}, {user, agent}} {
		if k.user == "" && k.agent == "" {
			continue
		}
		e, ok := r.entries[k]
		if !ok {
			continue
		}
		if e.at.After(at) {
			at = e.at
		}
		inForce = inForce || e.inForce
	}
	return at, inForce
}
