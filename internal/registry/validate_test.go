package registry

import (
	"errors"
	"strings"
	"testing"
)

// problemCase changes one thing in the valid base fixture and lists the
// exact "file:line: field: message" texts the load must report; a case
// with no want must load.
type problemCase struct {
	name     string
	file     string // base file to edit
	old, new string // the edit; old must occur in the file
	extra    map[string]string
	want     []string
	wantNot  []string
}

var longName = strings.Repeat("x", 129)

var problemCases = []problemCase{
	// Envelope.
	{name: "unknown apiVersion", file: "tenants.yaml", old: "actiongate.dev/v1", new: "actiongate.dev/v2",
		want: []string{`tenants.yaml:1: apiVersion: "actiongate.dev/v2" is not a known apiVersion (want actiongate.dev/v1)`}},
	{name: "missing apiVersion", file: "tenants.yaml", old: "apiVersion: actiongate.dev/v1\n", new: "",
		want: []string{`tenants.yaml:1: apiVersion: is required`}},
	{name: "unknown kind", file: "tenants.yaml", old: "kind: Tenant", new: "kind: Tennant",
		want: []string{`tenants.yaml:2: kind: "Tennant" is not one of MCPServer, Agent, Tenant`}},
	{name: "unknown top-level field", file: "servers/ehr.yaml", old: "spec:\n", new: "metadata: {}\nspec:\n",
		want: []string{`servers/ehr.yaml:3: metadata: unknown field; expected one of apiVersion, kind, spec`}},
	{name: "spec not a mapping", file: "tenants.yaml", old: "spec:\n  id: acme\n  name: Acme Corp\n", new: "spec: [acme]\n",
		want: []string{`tenants.yaml:3: spec: must be a mapping, not a list`}},
	{name: "document not a mapping", extra: map[string]string{"bad.yaml": "- a\n- b\n"},
		want: []string{`bad.yaml:1: a document must be a mapping with apiVersion, kind and spec, not a list`}},
	{name: "yaml syntax error", file: "tenants.yaml", old: "name: Acme Corp", new: "name: [Acme Corp",
		want: []string{`tenants.yaml:`, `invalid YAML: `}},
	{name: "duplicate key", file: "agents/summarizer.yaml", old: "  tier: 1\n", new: "  tier: 1\n  tier: 2\n",
		want: []string{`agents/summarizer.yaml:9: spec.tier: duplicate key (first at line 8)`}},
	{name: "anchor and alias", file: "servers/ehr.yaml", old: "owner: platform@acme.example\n  purpose: Patient records",
		new:  "owner: &o platform@acme.example\n  purpose: *o",
		want: []string{`servers/ehr.yaml:6: spec.owner: YAML anchors are not supported`, `servers/ehr.yaml:7: spec.purpose: YAML aliases are not supported`}},
	{name: "merge key", file: "agents/summarizer.yaml", old: "  tier: 1\n", new: "  tier: 1\n  <<: {owner: x}\n",
		want: []string{`agents/summarizer.yaml:9: spec: YAML merge keys (<<) are not supported`}},
	{name: "custom tag", file: "tenants.yaml", old: "name: Acme Corp", new: "name: !vault secret/acme",
		want: []string{`tenants.yaml:5: spec.name: unsupported YAML tag "!vault"`}},

	// Fields.
	{name: "unknown spec field", file: "servers/ehr.yaml", old: "  purpose:", new: "  porpose:",
		want: []string{`servers/ehr.yaml:7: spec.porpose: unknown field; expected one of id, upstream,`, `servers/ehr.yaml:4: spec.purpose: is required`}},
	{name: "unknown tool field", file: "servers/ehr.yaml", old: "      risk: low\n", new: "      risk: low\n      riks: low\n",
		want: []string{`servers/ehr.yaml:12: spec.tools[0].riks: unknown field`}},
	{name: "unknown annotation", file: "servers/ehr.yaml", old: "{readOnlyHint: true}", new: "{readOnly: true}",
		want: []string{`servers/ehr.yaml:12: spec.tools[0].annotations.readOnly: unknown field`}},
	{name: "annotation not a bool", file: "servers/ehr.yaml", old: "{readOnlyHint: true}", new: `{readOnlyHint: "yes"}`,
		want: []string{`servers/ehr.yaml:12: spec.tools[0].annotations.readOnlyHint: must be true or false, not the string "yes"`}},
	{name: "missing owner", file: "servers/ehr.yaml", old: "  owner: platform@acme.example\n", new: "",
		want: []string{`servers/ehr.yaml:4: spec.owner: is required`}},
	{name: "null owner", file: "servers/ehr.yaml", old: "owner: platform@acme.example", new: "owner: ~",
		want: []string{`servers/ehr.yaml:4: spec.owner: is required`}},
	{name: "blank owner", file: "servers/ehr.yaml", old: "owner: platform@acme.example", new: `owner: "  "`,
		want: []string{`servers/ehr.yaml:6: spec.owner: must not be empty`}},
	{name: "owner is a list", file: "servers/ehr.yaml", old: "owner: platform@acme.example", new: "owner: [a, b]",
		want: []string{`servers/ehr.yaml:6: spec.owner: must be a string, not a list`}},
	{name: "control character", file: "tenants.yaml", old: "name: Acme Corp", new: `name: "Acme\u0007Corp"`,
		want: []string{`tenants.yaml:5: spec.name: must not contain control characters`}},
	{name: "invalid id", file: "servers/ehr.yaml", old: "id: ehr", new: "id: EHR",
		want: []string{`servers/ehr.yaml:4: spec.id: "EHR" is not a valid id`}},
	{name: "classification enum", file: "servers/ehr.yaml", old: "classification: restricted", new: "classification: secret",
		want: []string{`servers/ehr.yaml:8: spec.classification: "secret" is not one of public, internal, confidential, restricted`}},
	{name: "risk enum", file: "servers/ehr.yaml", old: "risk: high", new: "risk: extreme",
		want: []string{`servers/ehr.yaml:17: spec.tools[1].risk: "extreme" is not one of low, medium, high, critical`}},
	{name: "missing risk", file: "servers/ehr.yaml", old: "      risk: high\n", new: "",
		want: []string{`servers/ehr.yaml:16: spec.tools[1].risk: is required`}},
	{name: "no tools", file: "servers/ehr.yaml", old: "  tools:\n", new: "  tools: []\n  x:\n",
		want: []string{`servers/ehr.yaml:9: spec.tools: must list at least one entry`}},
	{name: "tool name with space", file: "servers/ehr.yaml", old: "name: read_chart", new: "name: read chart",
		want: []string{`servers/ehr.yaml:10: spec.tools[0].name: "read chart" is not a valid MCP tool name`}},
	{name: "tool name too long", file: "servers/ehr.yaml", old: "name: read_chart", new: "name: " + longName,
		want: []string{`servers/ehr.yaml:10: spec.tools[0].name: "` + longName + `" is not a valid MCP tool name`}},
	{name: "duplicate tool", file: "servers/ehr.yaml", old: "name: write_summary", new: "name: read_chart",
		want: []string{`servers/ehr.yaml:16: spec.tools[1].name: duplicate tool "read_chart" (first at line 10)`}},

	// Input schemas.
	{name: "schema not object type", file: "servers/ehr.yaml", old: "inputSchema: {type: object}", new: "inputSchema: {type: string}",
		want: []string{`servers/ehr.yaml:18: spec.tools[1].inputSchema.type: must be "object"`}},
	{name: "schema without type", file: "servers/ehr.yaml", old: "inputSchema: {type: object}", new: "inputSchema: {properties: {}}",
		want: []string{`servers/ehr.yaml:18: spec.tools[1].inputSchema.type: must be "object"`}},
	{name: "schema is a list", file: "servers/ehr.yaml", old: "inputSchema: {type: object}", new: "inputSchema: [object]",
		want: []string{`servers/ehr.yaml:18: spec.tools[1].inputSchema: must be a JSON Schema object (a mapping), not a list`}},
	{name: "schema missing", file: "servers/ehr.yaml", old: "      inputSchema: {type: object}\n", new: "",
		want: []string{`servers/ehr.yaml:16: spec.tools[1].inputSchema: is required`}},
	{name: "schema non-string key", file: "servers/ehr.yaml", old: "{patient_id: {type: string}}", new: "{1: {type: string}}",
		want: []string{`servers/ehr.yaml:15: spec.tools[0].inputSchema.properties: mapping keys must be strings, not an integer`}},
	{name: "schema NaN", file: "servers/ehr.yaml", old: "inputSchema: {type: object}", new: "inputSchema: {type: object, const: .nan}",
		want: []string{`servers/ehr.yaml:18: spec.tools[1].inputSchema.const: .nan cannot be represented in JSON`}},
	{name: "schema huge integer", file: "servers/ehr.yaml", old: "inputSchema: {type: object}", new: "inputSchema: {type: object, maximum: !!int 99999999999999999999999}",
		want: []string{`servers/ehr.yaml:18: spec.tools[1].inputSchema.maximum: 99999999999999999999999 cannot be represented in JSON`}},

	{name: "schema nested too deep", file: "servers/ehr.yaml", old: "inputSchema: {type: object}",
		new:  "inputSchema: {type: object, const: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "}",
		want: []string{`servers/ehr.yaml:18: spec.tools[1].inputSchema.const[0]`, `: nested more than 64 levels deep`}},

	// Upstream URLs.
	{name: "upstream not http", file: "servers/ehr.yaml", old: "http://127.0.0.1:9101/mcp", new: "ftp://127.0.0.1:9101/mcp",
		want: []string{`servers/ehr.yaml:5: spec.upstream: must be an absolute http:// or https:// URL`}},
	{name: "upstream relative", file: "servers/ehr.yaml", old: "http://127.0.0.1:9101/mcp", new: "/mcp",
		want: []string{`servers/ehr.yaml:5: spec.upstream: must be an absolute http:// or https:// URL`}},
	{name: "upstream user info is not echoed", file: "servers/ehr.yaml", old: "http://127.0.0.1", new: "http://svc:hunter2@127.0.0.1",
		want:    []string{`servers/ehr.yaml:5: spec.upstream: must not contain user info`},
		wantNot: []string{"hunter2"}},
	{name: "upstream query", file: "servers/ehr.yaml", old: "/mcp", new: "/mcp?token=x",
		want: []string{`servers/ehr.yaml:5: spec.upstream: must not have a query`}, wantNot: []string{"token=x"}},
	{name: "upstream fragment", file: "servers/ehr.yaml", old: "/mcp", new: "/mcp#top",
		want: []string{`servers/ehr.yaml:5: spec.upstream: must not have a fragment`}},
	{name: "upstream port zero", file: "servers/ehr.yaml", old: ":9101", new: ":0",
		want: []string{`servers/ehr.yaml:5: spec.upstream: has a port outside 1-65535`}},
	{name: "upstream port too big", file: "servers/ehr.yaml", old: ":9101", new: ":70000",
		want: []string{`servers/ehr.yaml:5: spec.upstream: has a port outside 1-65535`}},
	{name: "upstream dot segment", file: "servers/ehr.yaml", old: "/mcp", new: "/a/../mcp",
		want: []string{`servers/ehr.yaml:5: spec.upstream: must not have . or .. path segments`}},

	// Agents.
	{name: "tier out of range", file: "agents/summarizer.yaml", old: "tier: 1", new: "tier: 5",
		want: []string{`agents/summarizer.yaml:8: spec.tier: 5 is not an autonomy tier (1, 2, 3 or 4)`}},
	{name: "tier not an integer", file: "agents/summarizer.yaml", old: "tier: 1", new: "tier: two",
		want: []string{`agents/summarizer.yaml:8: spec.tier: must be an integer, not the string "two"`}},
	{name: "missing model version", file: "agents/summarizer.yaml", old: `{name: claude, version: "4.5"}`, new: "{name: claude}",
		want: []string{`agents/summarizer.yaml:7: spec.model.version: is required`}},
	{name: "no users or groups", file: "agents/summarizer.yaml", old: "  users: [dr-alice]\n", new: "",
		want: []string{`agents/summarizer.yaml:4: spec.users: an agent must list at least one user or group it acts for`}},
	{name: "groups alone suffice", file: "agents/summarizer.yaml", old: "users: [dr-alice]", new: "groups: [physicians]"},
	{name: "duplicate user", file: "agents/summarizer.yaml", old: "users: [dr-alice]", new: "users: [dr-alice, dr-alice]",
		want: []string{`agents/summarizer.yaml:9: spec.users[1]: duplicate entry "dr-alice" (first at line 9)`}},
	{name: "empty user", file: "agents/summarizer.yaml", old: "users: [dr-alice]", new: `users: [dr-alice, ""]`,
		want: []string{`agents/summarizer.yaml:9: spec.users[1]: must not be empty`}},
	{name: "unknown tenant", file: "agents/summarizer.yaml", old: "tenants: [acme]", new: "tenants: [acme, globex]",
		want: []string{`agents/summarizer.yaml:10: spec.tenants[1]: unknown tenant "globex"`}},
	{name: "no tenants", file: "agents/summarizer.yaml", old: "  tenants: [acme]\n", new: "",
		want: []string{`agents/summarizer.yaml:4: spec.tenants: is required`}},
	{name: "unknown server", file: "agents/summarizer.yaml", old: "ehr/read_chart,", new: "crm/read_chart,",
		want: []string{`agents/summarizer.yaml:11: spec.tools[0]: "crm/read_chart" names unknown server "crm"`}},
	{name: "unknown tool", file: "agents/summarizer.yaml", old: "ehr/write_summary", new: "ehr/delete_chart",
		want: []string{`agents/summarizer.yaml:11: spec.tools[1]: "ehr/delete_chart" names unknown tool "delete_chart" of server "ehr"`}},
	{name: "malformed tool ref", file: "agents/summarizer.yaml", old: "ehr/read_chart,", new: "read_chart,",
		want: []string{`agents/summarizer.yaml:11: spec.tools[0]: "read_chart" is not a tool reference`}},
	{name: "wildcard tool ref", file: "agents/summarizer.yaml", old: "[ehr/read_chart, ehr/write_summary]", new: "[ehr/*]"},
	{name: "wildcard on unknown server", file: "agents/summarizer.yaml", old: "[ehr/read_chart, ehr/write_summary]", new: "[crm/*]",
		want: []string{`agents/summarizer.yaml:11: spec.tools[0]: "crm/*" names unknown server "crm"`}},

	// Across files.
	{name: "duplicate server across files", extra: map[string]string{"servers/ehr-copy.yaml": fixtureServer},
		want: []string{`servers/ehr.yaml:4: spec.id: duplicate MCPServer id "ehr" (first defined at servers/ehr-copy.yaml:4)`}},
	{name: "duplicate tenant in one file", file: "tenants.yaml", old: "Acme Corp\n", new: "Acme Corp\n---\n" + fixtureTenants,
		want: []string{`tenants.yaml:10: spec.id: duplicate Tenant id "acme" (first defined at tenants.yaml:4)`}},
	{name: "duplicate agent", extra: map[string]string{"agents/again.yml": fixtureAgent},
		want: []string{`agents/summarizer.yaml:4: spec.id: duplicate Agent id "summarizer" (first defined at agents/again.yml:4)`}},
	{name: "same id different kinds is fine", extra: map[string]string{"more.yaml": strings.Replace(fixtureTenants, "id: acme", "id: ehr", 1)}},
}

func TestLoad_Problems(t *testing.T) {
	t.Parallel()
	for _, tc := range problemCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := baseFixture()
			if tc.old != "" {
				if !strings.Contains(files[tc.file], tc.old) {
					t.Fatalf("fixture %s has no %q", tc.file, tc.old)
				}
				files[tc.file] = strings.Replace(files[tc.file], tc.old, tc.new, 1)
			}
			for rel, content := range tc.extra {
				files[rel] = content
			}
			_, err := Load(fixtureDir(t, files))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("err = %v, want a *LoadError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error must not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoad_NoDocuments(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]string{
		"empty directory":  {},
		"only other files": {"README.md": "# registry"},
		"only empty YAML":  {"a.yaml": "# nothing here\n", "b.yml": "---\n---\n", "c.yaml": ""},
		"only hidden YAML": {".a.yaml": fixtureTenants, ".d/b.yaml": fixtureTenants},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := fixtureDir(t, files)
			_, err := Load(dir)
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(err.Error(), "no registry documents found") {
				t.Fatalf("err = %v, want one no-documents problem", err)
			}
			if !strings.HasPrefix(err.Error(), "registry "+dir+": ") {
				t.Errorf("error does not name the directory: %v", err)
			}
		})
	}
}

func TestParseUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want Endpoint
	}{
		{"http://127.0.0.1:9101/mcp", Endpoint{"http", "127.0.0.1", 9101, "/mcp"}},
		{"https://mcp.example.com/v1/mcp", Endpoint{"https", "mcp.example.com", 443, "/v1/mcp"}},
		{"http://mcp.internal", Endpoint{"http", "mcp.internal", 80, "/"}},
		{"http://[::1]:8080/mcp", Endpoint{"http", "::1", 8080, "/mcp"}},
		{"HTTP://host:1/a%2Fb", Endpoint{"http", "host", 1, "/a%2Fb"}},
	}
	for _, tc := range tests {
		got, err := parseUpstream(tc.raw)
		if err != nil || got != tc.want {
			t.Errorf("parseUpstream(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", " http://h/", "http://h:/x", "http://:80/", "http:opaque", "https://h/a/./b", "unix:///tmp/s", "http://h/?"} {
		if _, err := parseUpstream(bad); err == nil {
			t.Errorf("parseUpstream(%q) accepted", bad)
		}
	}
}
