package mint

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

func TestMinter_Mint_Claims(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	m := newTestMinter(t, ring, clk, nil)
	tok := mustMint(t, m, testGrant())

	hdr := decodePart(t, tok.Raw, 0)
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" || hdr["kid"] != ring.Keys(clk.Now())[0].KeyID {
		t.Errorf("header %v", hdr)
	}
	if len(hdr) != 3 {
		t.Errorf("header has extra fields: %v", hdr)
	}
	c := decodePart(t, tok.Raw, 1)
	now := float64(clk.Now().Unix())
	want := map[string]any{
		"iss": testIssuer, "sub": "dr-alice", "aud": testResource,
		"iat": now, "nbf": now, "exp": now + 300,
		"scope": "mcp:tools:call:ehr/read_chart", "client_id": "note-summarizer",
		"tenant": "st-marys", "task": "task-7", "decision_id": "dec-123",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	actClaim, _ := c["act"].(map[string]any)
	inner, _ := actClaim["act"].(map[string]any)
	if actClaim["sub"] != "note-summarizer" || actClaim["iss"] != "https://idp.example.test" ||
		inner["sub"] != "orchestrator" || inner["act"] != nil {
		t.Errorf("act = %v, want note-summarizer{iss} → orchestrator", c["act"])
	}
	if jti, _ := c["jti"].(string); jti != tok.ID || len(jti) != 22 {
		t.Errorf("jti %q, Token.ID %q", jti, tok.ID)
	}
	if !tok.ExpiresAt.Equal(clk.Now().Add(DefaultLifetime)) {
		t.Errorf("ExpiresAt %v", tok.ExpiresAt)
	}
	if len(c) != len(want)+2 { // + act, jti
		t.Errorf("unexpected claims: %v", c)
	}

	// Round trip through the upstream verifier.
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testResource, Keys: ring, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok.Raw, Scope("ehr", "read_chart"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "dr-alice" || got.ClientID != "note-summarizer" || len(got.Actors) != 2 ||
		got.Actors[1].Subject != "orchestrator" || got.DecisionID != "dec-123" || got.ID != tok.ID {
		t.Errorf("verified claims %+v", got)
	}
}

func TestMinter_Mint_OptionalClaimsOmitted(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	m := newTestMinter(t, newTestRing(t, t.TempDir(), clk, nil), clk, nil)
	g := testGrant()
	g.Tenant, g.Task, g.DecisionID = "", "", ""
	g.Actors = []principal.Actor{{Subject: "note-summarizer"}}
	c := decodePart(t, mustMint(t, m, g).Raw, 1)
	for _, k := range []string{"tenant", "task", "decision_id"} {
		if _, ok := c[k]; ok {
			t.Errorf("empty %s was minted", k)
		}
	}
	if act, _ := c["act"].(map[string]any); len(act) != 1 || act["sub"] != "note-summarizer" {
		t.Errorf("act = %v", c["act"])
	}
}

func TestMinter_Mint_Lifetime(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	m := newTestMinter(t, newTestRing(t, t.TempDir(), clk, nil), clk, nil)
	for _, tc := range []struct {
		life time.Duration
		want time.Duration
		err  error
	}{
		{0, DefaultLifetime, nil},
		{2 * time.Minute, 2 * time.Minute, nil},
		{DefaultMaxLifetime, DefaultMaxLifetime, nil},
		{DefaultMaxLifetime + time.Second, 0, ErrLifetime},
		{time.Hour, 0, ErrLifetime},
		{500 * time.Millisecond, 0, ErrInvalidGrant},
		{-time.Minute, 0, ErrInvalidGrant},
	} {
		g := testGrant()
		g.Lifetime = tc.life
		tok, err := m.Mint(g)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("lifetime %v: err %v, want %v", tc.life, err, tc.err)
			}
			continue
		}
		if err != nil || !tok.ExpiresAt.Equal(clk.Now().Add(tc.want)) {
			t.Errorf("lifetime %v: exp %v (%v), want now+%v", tc.life, tok.ExpiresAt, err, tc.want)
		}
	}
}

func TestGrant_Validate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Grant)
	}{
		{"no subject", func(g *Grant) { g.Subject = "" }},
		{"no agent", func(g *Grant) { g.Actors = nil }},
		{"actor without subject", func(g *Grant) { g.Actors = []principal.Actor{{Issuer: "x"}} }},
		{"chain too deep", func(g *Grant) { g.Actors = make([]principal.Actor, 17) }},
		{"bad server", func(g *Grant) { g.Server = "EHR" }},
		{"server with slash", func(g *Grant) { g.Server = "ehr/x" }},
		{"bad tool", func(g *Grant) { g.Tool = "read chart" }},
		{"tool with slash", func(g *Grant) { g.Tool = "a/b" }},
		{"no audience", func(g *Grant) { g.Audience = "" }},
		{"audience with fragment", func(g *Grant) { g.Audience = testResource + "#x" }},
		{"audience with space", func(g *Grant) { g.Audience = "a b" }},
		{"control char in subject", func(g *Grant) { g.Subject = "alice\n" }},
		{"invalid UTF-8 tenant", func(g *Grant) { g.Tenant = "\xff" }},
		{"huge task", func(g *Grant) { g.Task = strings.Repeat("t", maxClaimLen+1) }},
	} {
		g := testGrant()
		tc.edit(&g)
		if err := g.validate(); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("%s: err %v, want ErrInvalidGrant", tc.name, err)
		}
	}
	g := testGrant()
	g.Audience = "ehr-logical-name"
	if err := g.validate(); err != nil {
		t.Errorf("logical audience refused: %v", err)
	}
}

func TestMinter_Mint_Revoked(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	rl := NewRevocations()
	m := newTestMinter(t, newTestRing(t, t.TempDir(), clk, nil), clk, rl)
	g := testGrant()
	for _, tc := range []struct {
		name        string
		user, agent string
	}{
		{"user", "dr-alice", ""},
		{"outermost agent", "", "note-summarizer"},
		{"inner agent of the chain", "", "orchestrator"},
		{"agent for this user", "dr-alice", "note-summarizer"},
	} {
		if err := rl.Revoke(tc.user, tc.agent, clk.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Mint(g); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s revoked: err %v, want ErrRevoked", tc.name, err)
		}
		rl.Lift(tc.user, tc.agent)
		// Same second as the revocation: minted all the same (the lift
		// is in the past); only tokens that already existed stay dead.
		if _, err := m.Mint(g); err != nil {
			t.Errorf("%s lifted in the same second: %v", tc.name, err)
		}
		clk.Advance(time.Second)
		if _, err := m.Mint(g); err != nil {
			t.Errorf("%s lifted: %v", tc.name, err)
		}
	}
	// Someone else's revocation does not touch this grant.
	_ = rl.Revoke("dr-bob", "", clk.Now())
	_ = rl.Revoke("dr-alice", "other-agent", clk.Now())
	if _, err := m.Mint(g); err != nil {
		t.Errorf("unrelated revocations refused the grant: %v", err)
	}
}

func TestNewMinter_Config(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ring := newTestRing(t, t.TempDir(), clk, nil)
	for _, tc := range []struct {
		name string
		cfg  MinterConfig
	}{
		{"no keys", MinterConfig{Issuer: testIssuer}},
		{"no issuer", MinterConfig{Keys: ring}},
		{"issuer with trailing slash", MinterConfig{Issuer: testIssuer + "/", Keys: ring}},
		{"issuer not a URL", MinterConfig{Issuer: "gateway", Keys: ring}},
		{"max above the ring's", MinterConfig{Issuer: testIssuer, Keys: ring, MaxLifetime: DefaultMaxLifetime + time.Second}},
		{"default above max", MinterConfig{Issuer: testIssuer, Keys: ring, MaxLifetime: time.Minute, DefaultLifetime: 2 * time.Minute}},
	} {
		if _, err := NewMinter(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	m, err := NewMinter(MinterConfig{Issuer: testIssuer, Keys: ring, MaxLifetime: 2 * time.Minute})
	if err != nil || m.defaultLife != 2*time.Minute {
		t.Errorf("a max below the default lifetime lowers the default: %v %v", m, err)
	}
}

func TestMinter_Mint_UniqueIDs(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	m := newTestMinter(t, newTestRing(t, t.TempDir(), clk, nil), clk, nil)
	seen := map[string]bool{}
	for range 200 {
		tok := mustMint(t, m, testGrant())
		if seen[tok.ID] {
			t.Fatalf("jti %s minted twice", tok.ID)
		}
		seen[tok.ID] = true
	}
}

func TestGrantFor(t *testing.T) {
	t.Parallel()
	p := principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "st-marys", Task: "t1"}
	g := GrantFor(p)
	if g.Subject != "dr-alice" || len(g.Actors) != 1 || g.Actors[0].Subject != "note-summarizer" || g.Tenant != "st-marys" || g.Task != "t1" {
		t.Errorf("undelegated principal: %+v", g)
	}
	p.Chain = []principal.Actor{{Subject: "note-summarizer"}, {Subject: "orchestrator"}}
	if g := GrantFor(p); len(g.Actors) != 2 || g.Actors[1].Subject != "orchestrator" {
		t.Errorf("delegated principal: %+v", g)
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in           string
		server, tool string
	}{
		{"mcp:tools:call:ehr/read_chart", "ehr", "read_chart"},
		{"mcp:tools:call:a/B.c-d_e", "a", "B.c-d_e"},
		{"mcp:server:ehr", "ehr", ""},
		{"mcp:server:EHR", "", ""},
		{"mcp:server:", "", ""},
		{"mcp:tools:call:ehr/", "", ""},
		{"mcp:tools:call:/read", "", ""},
		{"mcp:tools:call:ehr/a/b", "", ""},
		{"mcp:tools:call:EHR/read", "", ""},
		{"mcp:tools:call:-ehr/read", "", ""},
		{"mcp:tools:call:ehr/read chart", "", ""},
		{"mcp:tools:list:ehr/read", "", ""},
		{"MCP:tools:call:ehr/read", "", ""},
		{"mcp:tools:call:ehr/" + strings.Repeat("x", 129), "", ""},
		{"", "", ""},
	} {
		server, tool, err := ParseScope(tc.in)
		if (err == nil) != (tc.server != "") || server != tc.server || tool != tc.tool {
			t.Errorf("ParseScope(%q) = %q %q %v", tc.in, server, tool, err)
		}
		if err == nil && tool != "" && Scope(server, tool) != tc.in {
			t.Errorf("Scope(%q, %q) does not round-trip", server, tool)
		}
	}
	if !hasScope("a mcp:tools:call:ehr/x b", "mcp:tools:call:ehr/x") || hasScope("mcp:tools:call:ehr/xy", "mcp:tools:call:ehr/x") {
		t.Error("hasScope must match whole scope-tokens only")
	}
}
