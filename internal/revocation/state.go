package revocation

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// State is what one replica knows: the latest record per subject. Reads
// are lock-free (one atomic load of an immutable map), so every request
// can ask; writes come only from the Node and copy the map.
type State struct {
	snap atomic.Pointer[map[string]entry]

	mu      sync.Mutex // serializes writers
	staging map[string]entry
}

// entry is the latest record of a subject, and the latest moment a
// revocation of it took effect (kept across a lift, see RevokedAt).
type entry struct {
	rec Revocation
	at  time.Time
}

// NewState returns an empty State.
func NewState() *State {
	s := &State{}
	empty := map[string]entry{}
	s.snap.Store(&empty)
	return s
}

// Revoked reports the revocation of subject of kind if one is in force.
func (s *State) Revoked(kind Kind, subject string) (Revocation, bool) {
	if subject == "" {
		return Revocation{}, false
	}
	e, ok := (*s.snap.Load())[KeyOf(kind, subject)]
	if !ok || e.rec.Lifted {
		return Revocation{}, false
	}
	return e.rec, true
}

// UserRevoked reports whether user (principal.Principal.User) is revoked.
func (s *State) UserRevoked(user string) bool {
	_, ok := s.Revoked(KindUser, user)
	return ok
}

// AgentRevoked reports whether agent is revoked.
func (s *State) AgentRevoked(agent string) bool {
	_, ok := s.Revoked(KindAgent, agent)
	return ok
}

// SessionRevoked reports whether session is revoked.
func (s *State) SessionRevoked(session string) bool {
	_, ok := s.Revoked(KindSession, session)
	return ok
}

// RevokedAt implements mint.RevocationList: the latest moment a revocation
// of user or of agent took effect (zero if neither ever was), and whether
// either is in force. After a lift, at stays — the lift's own time, which
// is not before the revocation's — so tokens issued while the revocation
// could have killed them stay dead; newer tokens are fine.
func (s *State) RevokedAt(user, agent string) (time.Time, bool) {
	m := *s.snap.Load()
	var at time.Time
	inForce := false
	for _, k := range [...]struct {
		kind    Kind
		subject string
	}{{KindUser, user}, {KindAgent, agent}} {
		if k.subject == "" {
			continue
		}
		e, ok := m[KeyOf(k.kind, k.subject)]
		if !ok {
			continue
		}
		if e.at.After(at) {
			at = e.at
		}
		inForce = inForce || !e.rec.Lifted
	}
	return at, inForce
}

// InForce lists every revocation in force, oldest first.
func (s *State) InForce() []Revocation {
	var out []Revocation
	for _, e := range *s.snap.Load() {
		if !e.rec.Lifted {
			out = append(out, e.rec)
		}
	}
	slices.SortFunc(out, func(a, b Revocation) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Key(), b.Key()))
	})
	return out
}

// Len is the number of subjects with a record, lifted or not.
func (s *State) Len() int { return len(*s.snap.Load()) }

// Set records r as the latest record of its subject and makes it visible
// at once. Records must come in topic order: the later one wins, whatever
// its At says.
func (s *State) Set(r Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stageLocked(r)
	s.publishLocked()
}

// stage records r without making it visible yet; publish shows every staged
// record at once. Catching up on a long topic stages a batch and publishes
// once, so a replica start is linear in the topic, not quadratic.
func (s *State) stage(r Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stageLocked(r)
}

func (s *State) publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishLocked()
}

func (s *State) stageLocked(r Revocation) {
	if s.staging == nil {
		s.staging = maps.Clone(*s.snap.Load())
	}
	k := r.Key()
	e := entry{rec: r, at: r.At}
	// A revoker's clock may lag another's: never move the time back, or a
	// token a revocation killed could come back to life after a lift.
	if prev, ok := s.staging[k]; ok && prev.at.After(e.at) {
		e.at = prev.at
	}
	s.staging[k] = e
}

func (s *State) publishLocked() {
	if s.staging == nil {
		return
	}
	m := s.staging
	s.staging = nil
	s.snap.Store(&m)
}
