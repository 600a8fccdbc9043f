package registry

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleDir = "../../examples/registry"

// Base fixtures. Line numbers matter: the problem tests below name them.
const (
	fixtureTenants = `apiVersion: actiongate.dev/v1
kind: Tenant
spec:
  id: acme
  name: Acme Corp
`
	fixtureServer = `apiVersion: actiongate.dev/v1
kind: MCPServer
spec:
  id: ehr
  upstream: http://127.0.0.1:9101/mcp
  owner: platform@acme.example
  purpose: Patient records
  classification: restricted
  tools:
    - name: read_chart
      risk: low
      annotations: {readOnlyHint: true}
      inputSchema:
        type: object
        properties: {patient_id: {type: string}}
    - name: write_summary
      risk: high
      inputSchema: {type: object}
`
	fixtureAgent = `apiVersion: actiongate.dev/v1
kind: Agent
spec:
  id: summarizer
  owner: ai@acme.example
  purpose: Summarize notes
  model: {name: claude, version: "4.5"}
  tier: 1
  users: [dr-alice]
  tenants: [acme]
  tools: [ehr/read_chart, ehr/write_summary]
`
)

func baseFixture() map[string]string {
	return map[string]string{
		"tenants.yaml":           fixtureTenants,
		"servers/ehr.yaml":       fixtureServer,
		"agents/summarizer.yaml": fixtureAgent,
	}
}

// writeTree writes files (relative path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fixtureDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	return dir
}

func TestLoad_Example(t *testing.T) {
	t.Parallel()
	reg, err := Load(exampleDir)
	if err != nil {
		t.Fatalf("example registry does not load: %v", err)
	}
	if len(reg.Servers) != 3 || len(reg.Agents) != 3 || len(reg.Tenants) != 2 {
		t.Fatalf("got %d servers, %d agents, %d tenants; want 3, 3, 2", len(reg.Servers), len(reg.Agents), len(reg.Tenants))
	}
	wantTools := map[string][]string{
		"ehr":     {"read_chart", "write_summary"},
		"mail":    {"read_inbox", "send_email"},
		"trading": {"get_quote", "list_positions", "place_trade"},
	}
	for id, tools := range wantTools {
		s, ok := reg.Server(id)
		if !ok {
			t.Fatalf("server %q missing", id)
		}
		var got []string
		for _, tool := range s.Tools {
			got = append(got, tool.Name)
			if !json.Valid(tool.InputSchema) || !strings.Contains(string(tool.InputSchema), `"type":"object"`) {
				t.Errorf("%s/%s: input schema %s is not an object schema", id, tool.Name, tool.InputSchema)
			}
		}
		if strings.Join(got, ",") != strings.Join(tools, ",") {
			t.Errorf("server %s tools = %v, want %v", id, got, tools)
		}
	}
}

func TestLoad_ExampleScopes(t *testing.T) {
	t.Parallel()
	reg, err := Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		agent, server, tool string
		want                bool
	}{
		{"note-summarizer", "ehr", "write_summary", true},
		{"note-summarizer", "mail", "send_email", false},
		{"trade-executor", "trading", "place_trade", true},
		{"trade-executor", "trading", "anything_new", true}, // trading/*
		{"inbox-assistant", "mail", "send_email", true},
		{"inbox-assistant", "ehr", "read_chart", false},
	}
	for _, c := range checks {
		a, ok := reg.Agent(c.agent)
		if !ok {
			t.Fatalf("agent %q missing", c.agent)
		}
		if got := a.MayUse(c.server, c.tool); got != c.want {
			t.Errorf("%s.MayUse(%s, %s) = %v, want %v", c.agent, c.server, c.tool, got, c.want)
		}
	}
	if a, _ := reg.Agent("note-summarizer"); a.Tier != 1 || a.Tenants[0] != "st-marys" {
		t.Errorf("note-summarizer tier %d tenants %v, want tier 1 in st-marys", a.Tier, a.Tenants)
	}
	if a, _ := reg.Agent("inbox-assistant"); strings.Join(a.Tenants, ",") != "northwind,st-marys" {
		t.Errorf("inbox-assistant tenants = %v", a.Tenants)
	}
	if s, _ := reg.Server("ehr"); s.Source != "servers/ehr.yaml:6" {
		t.Errorf("ehr source = %q", s.Source)
	}
	if !strings.HasPrefix(reg.Version.ContentHash, "sha256:") || len(reg.Version.ContentHash) != len("sha256:")+64 {
		t.Errorf("content hash %q", reg.Version.ContentHash)
	}
}

func TestLoad_Fixture(t *testing.T) {
	t.Parallel()
	files := baseFixture()
	files["README.md"] = "not yaml, ignored"
	files[".hidden.yaml"] = "not: [valid"
	files[".git/config.yaml"] = "not: [valid"
	files["empty.yml"] = "# only a comment\n---\n"
	reg, err := Load(fixtureDir(t, files))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := reg.Server("ehr")
	if !ok {
		t.Fatal("server ehr missing")
	}
	rc, ok := s.Tool("read_chart")
	if !ok {
		t.Fatal("tool read_chart missing")
	}
	if want := `{"type":"object","properties":{"patient_id":{"type":"string"}}}`; string(rc.InputSchema) != want {
		t.Errorf("schema = %s, want %s", rc.InputSchema, want)
	}
	if rc.Annotations.ReadOnlyHint == nil || !*rc.Annotations.ReadOnlyHint || rc.Annotations.DestructiveHint != nil {
		t.Errorf("annotations = %+v", rc.Annotations)
	}
	ep, err := s.Endpoint()
	if err != nil || ep != (Endpoint{Scheme: "http", Host: "127.0.0.1", Port: 9101, Path: "/mcp"}) {
		t.Errorf("endpoint = %+v, %v", ep, err)
	}
	if a, _ := reg.Agent("summarizer"); a.Groups == nil || len(a.Groups) != 0 {
		t.Errorf("absent groups should be an empty list, got %#v", a.Groups)
	}
}

// TestLoad_SymlinkedFiles covers the Kubernetes ConfigMap layout: visible
// names are symlinks into a hidden, atomically swapped directory.
func TestLoad_SymlinkedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "..2024_01_01"), map[string]string{"tenants.yaml": fixtureTenants, "ehr.yaml": fixtureServer, "agent.yaml": fixtureAgent})
	if err := os.Symlink("..2024_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	for _, name := range []string{"tenants.yaml", "ehr.yaml", "agent.yaml"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Servers) != 1 || len(reg.Agents) != 1 || len(reg.Tenants) != 1 {
		t.Errorf("hidden directory was read or links were not followed: %d/%d/%d", len(reg.Servers), len(reg.Agents), len(reg.Tenants))
	}
}

func TestLoad_NotADirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "x.yaml")
	writeTree(t, dir, map[string]string{"x.yaml": fixtureTenants})
	for _, p := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := Load(p); err == nil {
			t.Errorf("Load(%s) succeeded", p)
		}
	}
}

func TestLoad_FileTooLarge(t *testing.T) {
	t.Parallel()
	files := baseFixture()
	files["big.yaml"] = "# " + strings.Repeat("x", maxFileSize)
	_, err := Load(fixtureDir(t, files))
	if err == nil || !strings.Contains(err.Error(), "big.yaml: file is larger than") {
		t.Fatalf("err = %v, want a size error naming big.yaml", err)
	}
}

func TestLoad_ContentHash(t *testing.T) {
	t.Parallel()
	dir := fixtureDir(t, baseFixture())
	load := func() string {
		t.Helper()
		reg, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return reg.Version.ContentHash
	}
	h1, h2 := load(), load()
	if h1 != h2 {
		t.Fatalf("hash not stable: %s then %s", h1, h2)
	}
	writeTree(t, dir, map[string]string{"tenants.yaml": strings.Replace(fixtureTenants, "Acme Corp", "Acme Corq", 1)})
	h3 := load()
	if h3 == h1 {
		t.Fatal("hash did not change when one byte changed")
	}
	// Moving a file changes the hash too: paths are part of the content.
	if err := os.Rename(filepath.Join(dir, "tenants.yaml"), filepath.Join(dir, "tenant.yaml")); err != nil {
		t.Fatal(err)
	}
	if h4 := load(); h4 == h3 {
		t.Fatal("hash did not change when a file was renamed")
	}
}

func TestContentHash_Unambiguous(t *testing.T) {
	t.Parallel()
	a := contentHash([]sourceFile{{rel: "a.yaml", data: []byte("xy")}})
	b := contentHash([]sourceFile{{rel: "a.yamlx", data: []byte("y")}})
	c := contentHash([]sourceFile{{rel: "a.yaml", data: []byte("x")}, {rel: "y", data: nil}})
	if a == b || a == c || b == c {
		t.Fatalf("different inputs share a hash: %s %s %s", a, b, c)
	}
}

func TestRegistry_JSON(t *testing.T) {
	t.Parallel()
	reg, err := Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	out1, err := reg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	out2, _ := again.JSON()
	if string(out1) != string(out2) {
		t.Fatal("export differs between two loads of the same directory")
	}
	var doc struct {
		APIVersion string
		Version    Version
		Servers    []Server
		Agents     []Agent
		Tenants    []Tenant
	}
	if err := json.Unmarshal(out1, &doc); err != nil {
		t.Fatalf("export is not valid JSON: %v", err)
	}
	if doc.APIVersion != APIVersion || doc.Version != reg.Version || len(doc.Servers) != 3 || doc.Agents[0].ID != "inbox-assistant" {
		t.Errorf("export does not round-trip: %+v", doc)
	}
	if strings.Contains(string(out1), "Source") || strings.Contains(string(out1), "\\u003c") {
		t.Error("export leaks Source or HTML-escapes text")
	}
}

// TestRegistry_JSON_OrderIndependent: declaration order inside a file does
// not change the export (apart from the content hash).
func TestRegistry_JSON_OrderIndependent(t *testing.T) {
	t.Parallel()
	swapped := baseFixture()
	swapped["agents/summarizer.yaml"] = strings.Replace(fixtureAgent,
		"[ehr/read_chart, ehr/write_summary]", "[ehr/write_summary, ehr/read_chart]", 1)
	var exports []string
	for _, files := range []map[string]string{baseFixture(), swapped} {
		reg, err := Load(fixtureDir(t, files))
		if err != nil {
			t.Fatal(err)
		}
		reg.Version = Version{}
		out, err := reg.JSON()
		if err != nil {
			t.Fatal(err)
		}
		exports = append(exports, string(out))
	}
	if exports[0] != exports[1] {
		t.Errorf("export depends on declaration order:\n%s\n---\n%s", exports[0], exports[1])
	}
}

func TestLoadError_ListsEveryProblem(t *testing.T) {
	t.Parallel()
	files := baseFixture()
	files["tenants.yaml"] = strings.Replace(fixtureTenants, "kind: Tenant", "kind: Tennant", 1)
	files["servers/ehr.yaml"] = strings.Replace(fixtureServer, "risk: high", "risk: extreme", 1)
	_, err := Load(fixtureDir(t, files))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LoadError", err)
	}
	want := Problem{File: "servers/ehr.yaml", Line: 17, Field: "spec.tools[1].risk", Message: `"extreme" is not one of low, medium, high, critical`}
	found := false
	for _, p := range le.Problems {
		found = found || p == want
	}
	if !found {
		t.Errorf("problems %v do not include %v", le.Problems, want)
	}
	// The unknown kind also leaves the agent's tenant dangling: three in all.
	if len(le.Problems) != 3 || !strings.Contains(err.Error(), "3 problems") {
		t.Errorf("got %d problems:\n%v", len(le.Problems), err)
	}
	if !strings.Contains(err.Error(), "\n\tservers/ehr.yaml:17: spec.tools[1].risk: ") {
		t.Errorf("message does not list the problem on its own line:\n%v", err)
	}
}

func TestLoadError_BoundsItsMessage(t *testing.T) {
	t.Parallel()
	le := &LoadError{Dir: "d"}
	for i := range 150 {
		le.Problems = append(le.Problems, Problem{File: "f.yaml", Line: i + 1, Message: "bad"})
	}
	msg := le.Error()
	if !strings.Contains(msg, "150 problems") || !strings.Contains(msg, "f.yaml:100: bad") ||
		strings.Contains(msg, "f.yaml:101: bad") || !strings.HasSuffix(msg, "... and 50 more") {
		t.Errorf("message not bounded as expected:\n%s", msg)
	}
	if got := (Problem{Message: "m"}).String(); got != "m" {
		t.Errorf("bare problem renders as %q", got)
	}
}
