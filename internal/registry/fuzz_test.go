package registry

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds one file's bytes to the loader. It must never panic; what
// it accepts must be internally consistent; what it refuses must be
// refused with located problems.
func FuzzLoad(f *testing.F) {
	var all []string
	err := filepath.WalkDir(exampleDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAMLName(path) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(data)
		all = append(all, string(data))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	// The whole example as one multi-document file is a valid seed.
	f.Add([]byte(strings.Join(all, "\n---\n")))
	f.Add([]byte(fixtureTenants + "---\n" + fixtureServer + "---\n" + fixtureAgent))

	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := build("fuzz", []sourceFile{{rel: "fuzz.yaml", data: data}})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("refusal without problems: %v", err)
			}
			for _, p := range le.Problems {
				if p.File != "fuzz.yaml" && p.File != "" || p.Message == "" {
					t.Fatalf("badly located problem %+v", p)
				}
			}
			return
		}
		checkConsistent(t, reg)
	})
}

// checkConsistent asserts what every loaded registry guarantees.
func checkConsistent(t *testing.T, reg *Registry) {
	t.Helper()
	for _, s := range reg.Servers {
		if got, ok := reg.Server(s.ID); !ok || got.ID != s.ID || !validID(s.ID) {
			t.Fatalf("server %q not indexed or invalid id", s.ID)
		}
		if _, err := s.Endpoint(); err != nil {
			t.Fatalf("server %q: accepted upstream fails to parse: %v", s.ID, err)
		}
		for _, tool := range s.Tools {
			var schema map[string]any
			if !ValidToolName(tool.Name) || json.Unmarshal(tool.InputSchema, &schema) != nil || schema["type"] != "object" {
				t.Fatalf("server %q tool %q: bad name or schema %s", s.ID, tool.Name, tool.InputSchema)
			}
		}
	}
	for _, a := range reg.Agents {
		if a.Tier < 1 || a.Tier > 4 || len(a.Users)+len(a.Groups) == 0 || len(a.Tenants) == 0 {
			t.Fatalf("agent %q accepted with tier %d, %d users, %d groups, %d tenants", a.ID, a.Tier, len(a.Users), len(a.Groups), len(a.Tenants))
		}
		for _, ref := range a.Tools {
			s, ok := reg.Server(ref.Server)
			if !ok {
				t.Fatalf("agent %q: dangling server %q", a.ID, ref.Server)
			}
			if _, ok := s.Tool(ref.Tool); !ok && ref.Tool != "*" {
				t.Fatalf("agent %q: dangling tool %s", a.ID, ref)
			}
		}
		for _, id := range a.Tenants {
			if _, ok := reg.Tenant(id); !ok {
				t.Fatalf("agent %q: dangling tenant %q", a.ID, id)
			}
		}
	}
	out, err := reg.JSON()
	if err != nil || !json.Valid(out) {
		t.Fatalf("export failed: %v", err)
	}
}
