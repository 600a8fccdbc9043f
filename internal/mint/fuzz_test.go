package mint

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/actiongate/actiongate/internal/registry"
)

// FuzzParseScope: a scope that parses round-trips exactly, and the tool
// rule is the registry's.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"mcp:tools:call:ehr/read_chart", "mcp:server:ehr", "mcp:tools:call:a/b/c", "mcp:tools:call:/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		server, tool, err := ParseScope(s)
		if err != nil {
			return
		}
		back := ServerScope(server)
		if tool != "" {
			back = Scope(server, tool)
			if !registry.ValidToolName(tool) {
				t.Fatalf("tool %q accepted here but not by the registry", tool)
			}
		}
		if back != s {
			t.Fatalf("ParseScope(%q) = %q %q, which is %q", s, server, tool, back)
		}
	})
}

// FuzzVerify: arbitrary input never panics, never verifies unless it
// carries exactly the claims we minted (base64url's spare bits let a few
// spellings of the same bytes through), and fails with one of our kinds.
func FuzzVerify(f *testing.F) {
	clk := newTestClock()
	ring := newTestRing(f, f.TempDir(), clk, nil)
	m := newTestMinter(f, ring, clk, nil)
	good := mustMint(f, m, testGrant()).Raw
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	v, err := NewVerifier(VerifierConfig{Issuer: testIssuer, Audience: testResource, Keys: ring, Clock: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	want, err := v.Verify(context.Background(), good, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw, "")
		if err == nil {
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("verified claims that were not minted: %q", raw)
			}
			return
		}
		for _, k := range kinds {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("error of no kind: %v", err)
	})
}
