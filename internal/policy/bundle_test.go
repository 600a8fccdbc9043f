package policy

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedDefault_CompilesAndMatchesDirectory(t *testing.T) {
	t.Parallel()
	b := EmbeddedDefault()
	if b.err != nil {
		t.Fatal(b.err)
	}
	if _, err := Compile(context.Background(), b); err != nil {
		t.Fatalf("Compile(default): %v", err)
	}
	want := []string{"actiongate/authz.rego", "actiongate/data.json"}
	if got := b.Files(); !slices.Equal(got, want) {
		t.Errorf("Files = %q, want %q (tests excluded)", got, want)
	}
	// Pointing a gateway at the repository's policy/ directory must give
	// the revision the binary embeds, so either can be replayed with the other.
	disk, err := LoadBundle(filepath.Join("..", "..", "policy"))
	if err != nil {
		t.Fatal(err)
	}
	if disk.Revision() != b.Revision() {
		t.Errorf("on-disk revision %s != embedded %s", disk.Revision(), b.Revision())
	}
}

func TestBundle_Revision(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"a/authz.rego":      minimalPolicy("v1"),
		"a/data.json":       `{"limit": 1}`,
		"a/authz_test.rego": "package a_test\n\ntest_x if true\n",
		"README.md":         "not policy",
	}
	load := func(t *testing.T, files map[string]string) string {
		t.Helper()
		b, err := LoadBundle(writeBundle(t, files))
		if err != nil {
			t.Fatal(err)
		}
		return b.Revision()
	}
	base := load(t, files)
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("revision %q", base)
	}
	if again := load(t, files); again != base {
		t.Errorf("same content, different revision: %s vs %s", again, base)
	}
	with := func(path, content string) map[string]string {
		m := maps.Clone(files)
		m[path] = content
		return m
	}
	moved := maps.Clone(files)
	moved["b/authz.rego"] = moved["a/authz.rego"]
	delete(moved, "a/authz.rego")
	tests := []struct {
		name  string
		files map[string]string
		same  bool
	}{
		{"one byte of policy", with("a/authz.rego", minimalPolicy("v2")), false},
		{"one byte of data", with("a/data.json", `{"limit": 2}`), false},
		{"module moved to another directory", moved, false},
		{"module added", with("a/extra.rego", "package a.extra\n"), false},
		{"test file edited", with("a/authz_test.rego", "package a_test\n\ntest_y if true\n"), true},
		{"unrelated file edited", with("README.md", "still not policy"), true},
		{"hidden file added", with(".swp.rego", "garbage"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := load(t, tc.files); (got == base) != tc.same {
				t.Errorf("revision %s vs base %s: same = %v, want %v", got, base, got == base, tc.same)
			}
		})
	}
}

func TestLoadBundle_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no modules", map[string]string{"x_test.rego": "package x_test\n", "data.json": "{}"}, "no .rego modules"},
		{"duplicate data key", map[string]string{"p.rego": minimalPolicy("v"), "a/data.json": `{"k": 1, "k": 2}`}, `a/data.json: duplicate key "k"`},
		{"data not an object", map[string]string{"p.rego": minimalPolicy("v"), "data.json": `[1]`}, "must be a JSON object"},
		{"trailing data", map[string]string{"p.rego": minimalPolicy("v"), "data.json": `{} {}`}, "after the JSON value"},
		{"two files set one key", map[string]string{"p.rego": minimalPolicy("v"), "data.json": `{"a": {"b": 1}}`, "a/data.json": `{"b": 2}`}, "is set by more than one data.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadBundle(writeBundle(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadBundle error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := LoadBundle(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadBundle(missing dir) succeeded")
	}
}

func TestLoadBundle_DataPlacedAtDirectoryPath(t *testing.T) {
	t.Parallel()
	dir := writeBundle(t, map[string]string{
		"p.rego": `package actiongate.authz

decision := {"allow": data.actiongate.limits.max == 3, "approval_required": false, "reasons": [data.top], "obligations": {}}
`,
		"data.json":                   `{"top": "root"}`,
		"actiongate/limits/data.json": `{"max": 3}`,
	})
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	in := callInput(t, "trade-executor", "trader-bob", "trading", "get_quote", map[string]any{"symbol": "ACME"})
	res, err := e.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allow || !slices.Equal(res.Reasons, []string{"root"}) {
		t.Errorf("result %+v, want allow with reason root", res)
	}
}

func TestCompile_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"parse error names file and line", map[string]string{
			"ok.rego":         minimalPolicy("v"),
			"policy/bad.rego": "package actiongate.extra\n\nx := 1 ]\n\ny := 2\n",
		}, []string{"policy/bad.rego:3", "rego_parse_error"}},
		{"type error names file and line", map[string]string{
			"p.rego": "package actiongate.authz\n\nn := 1 + \"a\"\n\n" + strings.TrimPrefix(minimalPolicy("v"), "package actiongate.authz\n"),
		}, []string{"p.rego:3", "rego_type_error"}},
		{"strict mode: unused variable", map[string]string{
			"p.rego": minimalPolicy("v") + "\nx if {\n\ty := 1\n\ttrue\n}\n",
		}, []string{"p.rego:6", "unused"}},
		{"rego v0 syntax refused", map[string]string{
			"p.rego": minimalPolicy("v") + "\nold[x] { x := 1 }\n",
		}, []string{"p.rego:5"}},
		{"nondeterministic builtin refused", map[string]string{
			"p.rego": minimalPolicy("v") + "\nr := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"})\n",
		}, []string{"p.rego:5", "http.send"}},
		{"no decision rule", map[string]string{
			"p.rego": "package actiongate.other\n\nallow := true\n",
		}, []string{"no module defines data.actiongate.authz.decision"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := LoadBundle(writeBundle(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(context.Background(), b)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadBundle_SymlinkedFilesAreRead(t *testing.T) {
	t.Parallel()
	// A Kubernetes ConfigMap mount: visible files are links into a hidden
	// "..data" directory, which itself must not be loaded twice.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "..2026_03_04", "authz.rego"), minimalPolicy("cm"))
	if err := os.Symlink("..2026_03_04", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "authz.rego"), filepath.Join(dir, "authz.rego")); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Files(); !slices.Equal(got, []string{"authz.rego"}) {
		t.Errorf("Files = %q", got)
	}
}
