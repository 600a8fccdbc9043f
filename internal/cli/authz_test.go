package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/authzmodel"
	"github.com/actiongate/actiongate/internal/devenv"
)

func exampleRegistry() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "registry")
}

func TestAuthz_Schema(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Authz(t.Context(), []string{"schema"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != authzmodel.Schema {
		t.Fatal("authz schema did not print the embedded schema")
	}
}

func TestAuthz_Usage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "usage:"},
		{"unknown subcommand", []string{"grant"}, `unknown authz command "grant"`},
		{"missing flags", []string{"sync", "--registry", "x"}, "--registry and --spicedb are required"},
		{"stray argument", []string{"sync", "extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Authz(t.Context(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestAuthz_Sync runs the command as an operator would, against a real
// SpiceDB: dry run, sync, sync again. The key comes from the environment
// and appears in no output.
func TestAuthz_Sync(t *testing.T) {
	bin, err := devenv.FindSpiceDB()
	devenv.RequireDep(t, "SpiceDB", err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	srv, err := devenv.StartSpiceDB(ctx, devenv.SpiceDBOptions{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv(EnvSpiceDBKey, srv.PresharedKey)
	run := func(extra ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args := append([]string{"sync", "--registry", exampleRegistry(), "--spicedb", srv.Endpoint, "--insecure"}, extra...)
		if err := Authz(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("authz %v: %v\n%s", args, err, errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), srv.PresharedKey) {
			t.Fatal("the SpiceDB key was printed")
		}
		return out.String()
	}
	dry := run("--dry-run")
	for _, want := range []string{
		"~ schema\n",
		"+ tool:ehr/read_chart#agent_grant@agent:note-summarizer\n",
		"+ server:trading#agent_grant@agent:trade-executor\n",
		"dry run: nothing written (schema differs, 44 added, 0 changed, 0 removed)\n",
	} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, dry)
		}
	}
	if again := run("--dry-run"); again != dry {
		t.Fatalf("a second dry run differs, so the first wrote something:\n%s", again)
	}
	if out := run(); !strings.Contains(out, "written: schema written, 44 added, 0 changed, 0 removed; zedtoken ") {
		t.Fatalf("sync output:\n%s", out)
	}
	if out := run(); !strings.HasSuffix(out, "in sync: nothing to write\n") || strings.Contains(out, "+ ") {
		t.Fatalf("second sync output:\n%s", out)
	}
}

func TestAuthz_SyncKeySources(t *testing.T) {
	tests := []struct {
		name, env, flag, want string
	}{
		{"neither", "", "", "no SpiceDB key"},
		{"both differ", "env-key", "flag-key", "both set and differ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvSpiceDBKey, tc.env)
			args := []string{"--registry", "r", "--spicedb", "127.0.0.1:1"}
			if tc.flag != "" {
				args = append(args, "--spicedb-key", tc.flag)
			}
			_, err := parseAuthzSync(args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if tc.env != "" && strings.Contains(err.Error(), tc.env) || tc.flag != "" && strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("error %q contains a key", err)
			}
		})
	}
	t.Run("env wins when equal", func(t *testing.T) {
		t.Setenv(EnvSpiceDBKey, "k")
		f, err := parseAuthzSync([]string{"--registry", "r", "--spicedb", "h:1", "--spicedb-key", "k"}, &bytes.Buffer{})
		if err != nil || f.key != "k" {
			t.Fatalf("%+v, %v", f, err)
		}
	})
}
