package revocation

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/mint"
)

// State is what the minter and introspection consult.
var _ mint.RevocationList = (*State)(nil)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func rec(kind Kind, subject string, at time.Time, lifted bool) Revocation {
	return Revocation{ID: NewID(), Kind: kind, Subject: subject, Source: SourceCLI, Issuer: "ops", At: at, Lifted: lifted}
}

func TestState_RevokedAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		records     []Revocation
		user, agent string
		wantAt      time.Time
		wantInForce bool
	}{
		{"nothing", nil, "alice", "bot", time.Time{}, false},
		{"user revoked", []Revocation{rec(KindUser, "alice", t0, false)}, "alice", "bot", t0, true},
		{"agent revoked, any user", []Revocation{rec(KindAgent, "bot", t0, false)}, "bob", "bot", t0, true},
		{"other user", []Revocation{rec(KindUser, "alice", t0, false)}, "bob", "bot", time.Time{}, false},
		{"user id is not an agent id", []Revocation{rec(KindUser, "bot", t0, false)}, "alice", "bot", time.Time{}, false},
		{"session is not in RevokedAt", []Revocation{rec(KindSession, "alice", t0, false)}, "alice", "bot", time.Time{}, false},
		{"lift keeps the later time", []Revocation{rec(KindUser, "alice", t0, false), rec(KindUser, "alice", t0.Add(time.Hour), true)},
			"alice", "bot", t0.Add(time.Hour), false},
		{"revoked again after a lift", []Revocation{rec(KindUser, "alice", t0, false), rec(KindUser, "alice", t0.Add(time.Hour), true),
			rec(KindUser, "alice", t0.Add(2*time.Hour), false)}, "alice", "bot", t0.Add(2 * time.Hour), true},
		{"a lift stamped earlier (clock skew) does not move the time back",
			[]Revocation{rec(KindUser, "alice", t0, false), rec(KindUser, "alice", t0.Add(-time.Minute), true)}, "alice", "", t0, false},
		{"latest of user and agent, in force if either is",
			[]Revocation{rec(KindUser, "alice", t0.Add(time.Hour), true), rec(KindAgent, "bot", t0, false)}, "alice", "bot", t0.Add(time.Hour), true},
		{"empty names match nothing", []Revocation{rec(KindUser, "alice", t0, false)}, "", "", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewState()
			for _, r := range tc.records {
				s.Set(r)
			}
			at, inForce := s.RevokedAt(tc.user, tc.agent)
			if !at.Equal(tc.wantAt) || inForce != tc.wantInForce {
				t.Fatalf("RevokedAt(%q, %q) = %v, %v; want %v, %v", tc.user, tc.agent, at, inForce, tc.wantAt, tc.wantInForce)
			}
		})
	}
}

func TestState_LatestRecordWins(t *testing.T) {
	t.Parallel()
	s := NewState()
	first, lift := rec(KindAgent, "bot", t0, false), rec(KindAgent, "bot", t0.Add(time.Second), true)
	s.Set(first)
	if got, ok := s.Revoked(KindAgent, "bot"); !ok || got.ID != first.ID {
		t.Fatalf("Revoked = %+v, %v", got, ok)
	}
	s.Set(lift)
	if s.AgentRevoked("bot") || len(s.InForce()) != 0 || s.Len() != 1 {
		t.Fatalf("after the lift: revoked %v, in force %v, len %d", s.AgentRevoked("bot"), s.InForce(), s.Len())
	}
	// Topic order, not At, decides: a revocation stamped before the lift
	// but published after it is in force.
	s.Set(rec(KindAgent, "bot", t0, false))
	if !s.AgentRevoked("bot") {
		t.Fatal("a later record did not win")
	}
}

// TestState_StagedIsInvisibleUntilPublished: a catch-up batch appears at
// once, never half.
func TestState_StagedIsInvisibleUntilPublished(t *testing.T) {
	t.Parallel()
	s := NewState()
	s.stage(rec(KindUser, "a", t0, false))
	s.stage(rec(KindUser, "b", t0, false))
	if s.UserRevoked("a") || s.Len() != 0 {
		t.Fatal("a staged record is visible")
	}
	s.publish()
	if !s.UserRevoked("a") || !s.UserRevoked("b") {
		t.Fatal("published records are not visible")
	}
}

// TestState_ConcurrentReads runs under -race: readers never lock.
func TestState_ConcurrentReads(t *testing.T) {
	t.Parallel()
	s := NewState()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					s.UserRevoked("u-1")
					s.RevokedAt("u-2", "a")
				}
			}
		})
	}
	for i := range 200 {
		s.Set(rec(KindUser, "u-"+strings.Repeat("x", i%3), t0, i%2 == 0))
	}
	close(stop)
	wg.Wait()
}

func TestRevocation_Validate(t *testing.T) {
	t.Parallel()
	ok := rec(KindUser, "alice@example.com", t0, false)
	tests := []struct {
		name string
		edit func(*Revocation)
		want string // "" valid
	}{
		{"valid", func(*Revocation) {}, ""},
		{"no id", func(r *Revocation) { r.ID = "" }, "no id"},
		{"unknown kind", func(r *Revocation) { r.Kind = "tenant" }, "kind"},
		{"no subject", func(r *Revocation) { r.Subject = "" }, "no subject"},
		{"overlong subject", func(r *Revocation) { r.Subject = strings.Repeat("a", 1025) }, "subject longer"},
		{"control character in subject", func(r *Revocation) { r.Subject = "alice\nINFO forged" }, "control character"},
		{"invalid UTF-8", func(r *Revocation) { r.Reason = "\xff" }, "UTF-8"},
		{"unknown source", func(r *Revocation) { r.Source = "email" }, "source"},
		{"no issuer", func(r *Revocation) { r.Issuer = "" }, "no issuer"},
		{"no time", func(r *Revocation) { r.At = time.Time{} }, "no time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tc.edit(&r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid record refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "forged") {
				t.Fatalf("error %q repeats the subject", err)
			}
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	t.Parallel()
	r := rec(KindAgent, "bot", t0, true)
	r.ZedToken = "GhUKEzE3NjQxNjQ4NjMwMDAwMDAwMDA="
	v, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord([]byte("agent/bot"), v)
	if err != nil || got != r {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, r)
	}
	if _, err := decodeRecord([]byte("user/bot"), v); err == nil {
		t.Fatal("a record under another subject's key was accepted")
	}
	if _, err := decodeRecord([]byte("agent/bot"), []byte(`{"id":"x","kind":"agent","subject":"bot"}`)); err == nil {
		t.Fatal("a record without source, issuer and time was accepted")
	}
}

func TestDecodeAck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"ack", `{"type":"ack","replica":"gw-a","revocation":"r1","at":"2026-03-01T12:00:00Z"}`, true},
		{"heartbeat", `{"type":"heartbeat","replica":"gw-a","at":"2026-03-01T12:00:00Z"}`, true},
		{"leaving", `{"type":"leaving","replica":"gw-a","at":"2026-03-01T12:00:00Z"}`, true},
		{"ack without revocation", `{"type":"ack","replica":"gw-a"}`, false},
		{"no replica", `{"type":"heartbeat"}`, false},
		{"unknown type", `{"type":"hello","replica":"gw-a"}`, false},
		{"not JSON", `hello`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := decodeAck([]byte(tc.value)); (err == nil) != tc.ok {
				t.Fatalf("decodeAck: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	a, b := NewID(), NewID()
	if a == b || len(a) != 36 || a[14] != '7' {
		t.Fatalf("ids %q, %q: want distinct UUIDv7s", a, b)
	}
}
