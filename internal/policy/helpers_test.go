package policy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

// exampleRegistry is the repository's example registry: the default policy
// is tested against the agents and tools it actually ships with.
var exampleRegistry = sync.OnceValues(func() (*registry.Registry, error) {
	return registry.Load(filepath.Join("..", "..", "examples", "registry"))
})

// defaultEngine compiles the embedded default bundle once per test binary.
var defaultEngine = sync.OnceValues(func() (*Engine, error) {
	return Compile(context.Background(), EmbeddedDefault())
})

func mustDefaultEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := defaultEngine()
	if err != nil {
		t.Fatalf("compile default bundle: %v", err)
	}
	return e
}

// decisionTime is a Wednesday, 15:00 UTC.
var decisionTime = time.Date(2026, 3, 4, 15, 0, 0, 0, time.UTC)

// callInput builds the input ext_authz would for agentID calling
// server/tool with args, on behalf of user.
func callInput(t testing.TB, agentID, user, server, tool string, args any) Input {
	t.Helper()
	reg, err := exampleRegistry()
	if err != nil {
		t.Fatalf("load example registry: %v", err)
	}
	a, ok := reg.Agent(agentID)
	if !ok {
		t.Fatalf("agent %q not in the example registry", agentID)
	}
	s, ok := reg.Server(server)
	if !ok {
		t.Fatalf("server %q not in the example registry", server)
	}
	tl, ok := s.Tool(tool)
	if !ok {
		t.Fatalf("tool %s/%s not in the example registry", server, tool)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Principal: principal.Principal{
			Issuer: "https://idp.example", User: user, Agent: agentID, Tenant: "northwind",
			Task: "task-1", Groups: []string{"staff"},
			Chain: []principal.Actor{{Subject: agentID, Issuer: "https://idp.example"}},
		},
		Agent:           a,
		Server:          s,
		Tool:            tl,
		Call:            Call{Method: "tools/call", Arguments: raw},
		Time:            decisionTime,
		RegistryVersion: reg.Version.String(),
	}
}

// writeBundle writes files (path -> content) into a new temporary bundle
// directory.
func writeBundle(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		writeFile(t, filepath.Join(dir, p), content)
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// minimalPolicy allows everything, with a reason naming its version so
// tests can tell revisions apart by their results.
func minimalPolicy(version string) string {
	return `package actiongate.authz

decision := {"allow": true, "approval_required": false, "reasons": ["` + version + `"], "obligations": {}}
`
}
