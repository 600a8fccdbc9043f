package mint

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/actiongate/actiongate/internal/jwks"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadKeyRing_CreatesFirstKey(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	dir := filepath.Join(t.TempDir(), "keys")
	ring := newTestRing(t, dir, clk, nil)

	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("want one key file, got %v (%v)", entries, err)
	}
	info := ring.Keys(clk.Now())
	if len(info) != 1 || !info[0].Signing || !info[0].Published {
		t.Fatalf("first key: %+v", info)
	}
	name := entries[0].Name()
	if name != info[0].KeyID+".json" {
		t.Errorf("file %q is not <kid>.json for kid %q", name, info[0].KeyID)
	}
	fi, _ := entries[0].Info()
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", di.Mode().Perm())
	}
	var f map[string]json.RawMessage
	data, _ := os.ReadFile(filepath.Join(dir, name))
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"kid", "created", "activates_at", "key"} {
		if _, ok := f[field]; !ok {
			t.Errorf("key file lacks %q", field)
		}
	}
	// Loading again (a restart, or a second replica) finds the same key
	// and creates none.
	again := newTestRing(t, dir, clk, nil)
	if got := again.Keys(clk.Now()); len(got) != 1 || got[0].KeyID != info[0].KeyID {
		t.Errorf("reload: %+v, want the same single key", got)
	}
}

func TestKeyRing_JWKSHasNoPrivateParts(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	dir := t.TempDir()
	ring := newTestRing(t, dir, clk, nil)
	if _, err := ring.Rotate(clk.Now()); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(ring.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("want the current and the pending key, got %d", len(set.Keys))
	}
	for _, k := range set.Keys {
		if _, ok := k["d"]; ok {
			t.Fatalf("JWKS publishes a private key: has \"d\"")
		}
		want := map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"}
		for f, v := range want {
			if k[f] != v {
				t.Errorf("key %v: %s = %v, want %v", k["kid"], f, k[f], v)
			}
		}
		if k["kid"] == "" || k["x"] == nil || k["y"] == nil {
			t.Errorf("key lacks kid, x or y: %v", k)
		}
	}
	// And no private scalar from any key file appears anywhere in it.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		var f struct {
			Key struct {
				D string `json:"d"`
			} `json:"key"`
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if err := json.Unmarshal(data, &f); err != nil || f.Key.D == "" {
			t.Fatalf("key file %s has no private scalar (%v)", e.Name(), err)
		}
		if strings.Contains(string(body), f.Key.D) {
			t.Fatalf("JWKS contains the private scalar of %s", e.Name())
		}
	}
}

// TestKeyRing_RotationWithTokensInFlight is the rotation contract: a token
// signed before a rotation keeps verifying against the JWKS served after
// it, through activation and until it expires; new tokens use the new key.
func TestKeyRing_RotationWithTokensInFlight(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	minter := newTestMinter(t, ring, clk, nil)
	jwks := newJWKSServer(t, ring)
	verifier := newRemoteVerifier(t, jwks.URL, clk, func(c *VerifierConfig) { c.MinRefetchInterval = time.Second })
	ctx := context.Background()
	scope := Scope("ehr", "read_chart")

	oldKid := ring.Keys(clk.Now())[0].KeyID
	old := mustMint(t, minter, Grant{Lifetime: ring.opts.MaxTokenLifetime, Subject: "dr-alice",
		Actors: testGrant().Actors, Audience: testResource, Server: "ehr", Tool: "read_chart"})
	if _, err := verifier.Verify(ctx, old.Raw, scope); err != nil {
		t.Fatalf("old token before rotation: %v", err)
	}

	newKid, err := ring.Rotate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, mustMint(t, minter, testGrant()).Raw) != oldKid {
		t.Error("the new key signed before its propagation delay passed")
	}
	if !jwksHas(ring, newKid) || !jwksHas(ring, oldKid) {
		t.Fatal("the JWKS must publish the new key at once and keep the old one")
	}

	clk.Advance(ring.opts.PropagationDelay)
	fresh := mustMint(t, minter, testGrant())
	if kidOf(t, fresh.Raw) != newKid {
		t.Fatalf("after activation new tokens must use the new kid")
	}
	if _, err := verifier.Verify(ctx, fresh.Raw, scope); err != nil {
		t.Fatalf("new token (unknown kid → one refetch): %v", err)
	}
	if _, err := verifier.Verify(ctx, old.Raw, scope); err != nil {
		t.Fatalf("old token after activation, against the new JWKS: %v", err)
	}

	// Just before the old token expires its key is still published…
	clk.Advance(old.ExpiresAt.Sub(clk.Now()) - time.Second)
	if !jwksHas(ring, oldKid) {
		t.Fatal("old key withdrawn while a token it signed is still valid")
	}
	if _, err := verifier.Verify(ctx, old.Raw, scope); err != nil {
		t.Fatalf("old token near its exp: %v", err)
	}
	// …and once retention has passed it is withdrawn and pruned.
	clk.Advance(ring.opts.RetainAfterRetire)
	if jwksHas(ring, oldKid) {
		t.Error("old key still published after RetainAfterRetire")
	}
	gone, err := ring.Prune(clk.Now())
	if err != nil || len(gone) != 1 || gone[0] != oldKid {
		t.Errorf("Prune = %v, %v; want [%s]", gone, err, oldKid)
	}
	if got := ring.Keys(clk.Now()); len(got) != 1 || got[0].KeyID != newKid {
		t.Errorf("after prune: %+v", got)
	}
}

// TestKeyRing_RotationRealClock runs the same contract on the wall clock
// with a small propagation delay.
func TestKeyRing_RotationRealClock(t *testing.T) {
	t.Parallel()
	ring, err := LoadKeyRing(t.TempDir(), KeyRingOptions{PropagationDelay: 150 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	minter, err := NewMinter(MinterConfig{Issuer: testIssuer, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	jwks := newJWKSServer(t, ring)
	verifier, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testResource, JWKSURL: jwks.URL,
		MinRefetchInterval: 10 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	old := mustMint(t, minter, testGrant())
	newKid, err := ring.Rotate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var fresh Token
	deadline := time.Now().Add(5 * time.Second)
	for fresh = mustMint(t, minter, testGrant()); kidOf(t, fresh.Raw) != newKid; fresh = mustMint(t, minter, testGrant()) {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key never became the signing key")
		}
		time.Sleep(10 * time.Millisecond) // polling the activation, not waiting for readiness
	}
	for _, tok := range []Token{old, fresh} {
		if _, err := verifier.Verify(context.Background(), tok.Raw, Scope("ehr", "read_chart")); err != nil {
			t.Errorf("verify after rotation: %v", err)
		}
	}
}

func TestKeyRing_EmergencyRotate(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	m := newTestMinter(t, ring, clk, nil)
	leaked := mustMint(t, m, testGrant())
	if _, err := ring.Rotate(clk.Now()); err != nil { // a pending key goes too
		t.Fatal(err)
	}
	kid, err := ring.EmergencyRotate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if set := ring.JWKS(); len(set.Keys) != 1 || set.Keys[0].KeyID != kid {
		t.Fatalf("JWKS after emergency rotation: %+v", set.Keys)
	}
	if got := kidOf(t, mustMint(t, m, testGrant()).Raw); got != kid {
		t.Errorf("signing with %s, want the new key at once", got)
	}
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testResource, Keys: ring, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), leaked.Raw, ""); !errors.Is(err, ErrBadSignature) {
		t.Errorf("token of the leaked key: %v, want ErrBadSignature", err)
	}
}

func TestKeyRing_ReloadPicksUpOtherReplica(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	dir := t.TempDir()
	a := newTestRing(t, dir, clk, nil)
	b := newTestRing(t, dir, clk, nil)
	kid, err := a.Rotate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if jwksHas(b, kid) {
		t.Fatal("replica b knows the key before reloading")
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if !jwksHas(b, kid) {
		t.Fatal("replica b did not pick up the key a wrote")
	}
	clk.Advance(a.opts.PropagationDelay)
	mb := newTestMinter(t, b, clk, nil)
	if got := kidOf(t, mustMint(t, mb, testGrant()).Raw); got != kid {
		t.Errorf("replica b signs with %s, want the rotated key %s", got, kid)
	}
	// a prunes the old key after retention; b drops it on reload.
	clk.Advance(a.opts.RetainAfterRetire)
	if _, err := a.Prune(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := b.Keys(clk.Now()); len(got) != 1 || got[0].KeyID != kid {
		t.Errorf("replica b after prune: %+v", got)
	}
}

func TestKeyRing_WatchReloads(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	dir := t.TempDir()
	a := newTestRing(t, dir, clk, nil)
	b := newTestRing(t, dir, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Watch(ctx, 5*time.Millisecond)
	kid, err := a.Rotate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !jwksHas(b, kid) {
		if time.Now().After(deadline) {
			t.Fatal("Watch never picked up the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeyRing_ReloadKeepsKeysOnBadFile(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	for _, tc := range []struct {
		name string
		file func(dir, kid string) error
	}{
		{"garbage", func(dir, _ string) error { return os.WriteFile(filepath.Join(dir, "x.json"), []byte("{"), 0o600) }},
		{"kid is not the file name", func(dir, kid string) error {
			data, err := os.ReadFile(filepath.Join(dir, kid+".json"))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "other.json"), data, 0o600)
		}},
		{"kid is not the thumbprint", func(dir, kid string) error {
			data, err := os.ReadFile(filepath.Join(dir, kid+".json"))
			if err != nil {
				return err
			}
			forged := strings.Replace(string(data), `"kid": "`+kid, `"kid": "AAAA`, 1)
			return os.WriteFile(filepath.Join(dir, "AAAA.json"), []byte(forged), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ring := newTestRing(t, dir, clk, nil)
			before := ring.Keys(clk.Now())
			if err := tc.file(dir, before[0].KeyID); err != nil {
				t.Fatal(err)
			}
			if err := ring.Reload(); err == nil {
				t.Fatal("Reload accepted a bad key file")
			}
			if after := ring.Keys(clk.Now()); len(after) != 1 || after[0].KeyID != before[0].KeyID {
				t.Errorf("keys changed on a failed reload: %+v", after)
			}
			if _, err := LoadKeyRing(dir, KeyRingOptions{Clock: clk.Now, Logger: quietLogger()}); err == nil {
				t.Error("LoadKeyRing accepted a bad key file")
			}
		})
	}
}

func TestKeyRing_IgnoresHiddenAndOtherFiles(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	dir := t.TempDir()
	ring := newTestRing(t, dir, clk, nil)
	// A Kubernetes Secret volume: ..data links and timestamped dirs.
	if err := os.Mkdir(filepath.Join(dir, "..2026_11_30"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".tmp-abc", "README", "..data.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := ring.Reload(); err != nil {
		t.Fatalf("Reload with unrelated files: %v", err)
	}
}

func TestKeyRing_ReadOnly(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	if _, err := LoadKeyRing(t.TempDir(), KeyRingOptions{ReadOnly: true, Clock: clk.Now}); err == nil {
		t.Error("read-only ring loaded from an empty directory")
	}
	dir := t.TempDir()
	newTestRing(t, dir, clk, nil)
	ro := newTestRing(t, dir, clk, func(o *KeyRingOptions) { o.ReadOnly = true })
	if _, err := ro.Rotate(clk.Now()); err == nil {
		t.Error("read-only ring rotated")
	}
	if _, err := ro.Prune(clk.Now()); err == nil {
		t.Error("read-only ring pruned")
	}
}

func TestKeyRingOptions_Validate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts KeyRingOptions
		ok   bool
	}{
		{"defaults", KeyRingOptions{}, true},
		{"retention covers lifetime", KeyRingOptions{MaxTokenLifetime: time.Minute, ClockSkew: time.Second, RetainAfterRetire: 61 * time.Second}, true},
		{"retention too short", KeyRingOptions{MaxTokenLifetime: time.Minute, RetainAfterRetire: time.Minute}, false},
		{"negative delay", KeyRingOptions{PropagationDelay: -1}, false},
	} {
		got, err := tc.opts.withDefaults()
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
		if tc.name == "defaults" && (got.PropagationDelay != time.Minute || got.RetainAfterRetire != DefaultMaxLifetime+time.Minute) {
			t.Errorf("defaults: %+v", got)
		}
	}
}

// TestRingState_Schedule is the pure schedule: which key signs and which
// are published, at each moment around two rotations.
func TestRingState_Schedule(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	st := &ringState{keys: []*ringKey{
		{kid: "a", activates: at(0)},
		{kid: "b", activates: at(10)},
		{kid: "c", activates: at(12)},
	}}
	retain := 5 * time.Minute
	for _, tc := range []struct {
		now       time.Time
		signing   string
		published string
	}{
		{at(-1), "", "abc"},
		{at(0), "a", "abc"},
		{at(9), "a", "abc"},
		{at(10), "b", "abc"}, // a retired at 10, kept to 15
		{at(12), "c", "abc"}, // b retired at 12, kept to 17
		{at(15), "c", "bc"},  // a withdrawn exactly at 10+5
		{at(17), "c", "c"},   // b withdrawn
		{at(100), "c", "c"},  // the signing key is never withdrawn
	} {
		i := st.signingIndex(tc.now)
		signing := ""
		if i >= 0 {
			signing = st.keys[i].kid
		}
		var pub strings.Builder
		for j := range st.keys {
			if st.published(j, tc.now, retain) {
				pub.WriteString(st.keys[j].kid)
			}
		}
		if signing != tc.signing || pub.String() != tc.published {
			t.Errorf("at %v: signing %q published %q, want %q %q",
				tc.now.Sub(t0), signing, pub.String(), tc.signing, tc.published)
		}
	}
}

func TestKeyRing_JWKSHandler(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, func(o *KeyRingOptions) { o.PropagationDelay = time.Minute })
	srv := newJWKSServer(t, ring)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=30" {
		t.Errorf("Cache-Control %q: want half the propagation delay", cc)
	}
	pub, err := jwks.Parse(mustRead(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	set, err := es256Keys(pub)
	if err != nil || len(set) != 1 {
		t.Errorf("served JWKS: %d keys, %v", len(set), err)
	}
	post, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", post.Status)
	}
}

func TestKeyRing_KeySource(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	kid := ring.Keys(clk.Now())[0].KeyID
	if k, err := ring.Key(context.Background(), kid); err != nil || !k.IsPublic() {
		t.Errorf("Key(%s) = public %v, %v", kid, k.IsPublic(), err)
	}
	if _, err := ring.Key(context.Background(), "nope"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("unknown kid: %v", err)
	}
}

func jwksHas(r *KeyRing, kid string) bool {
	for _, k := range r.JWKS().Keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

func kidOf(t testing.TB, raw string) string {
	t.Helper()
	kid, _ := decodePart(t, raw, 0)["kid"].(string)
	return kid
}

func mustRead(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
