package devenv

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/authzed/grpcutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const testSchema = `definition user {}

definition document {
	relation viewer: user
	permission view = viewer
}`

func spiceClient(t *testing.T, endpoint, key string) *authzed.Client {
	t.Helper()
	c, err := authzed.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpcutil.WithInsecureBearerToken(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSpiceDBAnswers(t *testing.T) {
	t.Parallel()
	bin, err := FindSpiceDB()
	RequireDep(t, "SpiceDB", err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	began := time.Now()
	sp, err := StartSpiceDB(ctx, SpiceDBOptions{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	showLogsOnFailure(t, "spicedb", sp.Logs)
	t.Logf("SpiceDB ready on %s in %s", sp.Endpoint, time.Since(began).Round(time.Millisecond))
	if host, _, _ := net.SplitHostPort(sp.Endpoint); host != "127.0.0.1" {
		t.Fatalf("endpoint %q is not on loopback", sp.Endpoint)
	}
	if len(sp.PresharedKey) < 32 {
		t.Fatalf("generated preshared key is only %d characters", len(sp.PresharedKey))
	}

	c := spiceClient(t, sp.Endpoint, sp.PresharedKey)
	if _, err := c.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		t.Fatalf("WriteSchema: %v", err)
	}
	checkView(ctx, t, c)

	wrong := spiceClient(t, sp.Endpoint, "not-the-key")
	if _, err := wrong.ReadSchema(ctx, &v1.ReadSchemaRequest{}); status.Code(err) != codes.PermissionDenied &&
		status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ReadSchema with a wrong key: %v, want PermissionDenied or Unauthenticated", err)
	}
	if strings.Contains(sp.Logs.String(), sp.PresharedKey) {
		t.Fatal("the preshared key appears in SpiceDB's output")
	}

	sp.Stop()
	if conn, err := net.DialTimeout("tcp", sp.Endpoint, time.Second); err == nil {
		conn.Close()
		t.Fatal("SpiceDB still accepts connections after Stop")
	}
}

func checkView(ctx context.Context, t *testing.T, c *authzed.Client) {
	t.Helper()
	doc := &v1.ObjectReference{ObjectType: "document", ObjectId: "plan"}
	alice := &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "alice"}}
	wr, err := c.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
		Operation:    v1.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: &v1.Relationship{Resource: doc, Relation: "viewer", Subject: alice},
	}}})
	if err != nil {
		t.Fatalf("WriteRelationships: %v", err)
	}
	for _, tc := range []struct {
		user string
		want v1.CheckPermissionResponse_Permissionship
	}{
		{"alice", v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION},
		{"mallory", v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION},
	} {
		resp, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
			Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: wr.WrittenAt}},
			Resource:    doc,
			Permission:  "view",
			Subject:     &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: tc.user}},
		})
		if err != nil {
			t.Fatalf("CheckPermission(%s): %v", tc.user, err)
		}
		if resp.Permissionship != tc.want {
			t.Errorf("%s: %v, want %v", tc.user, resp.Permissionship, tc.want)
		}
	}
}

func TestSpiceDBStopsWithContext(t *testing.T) {
	t.Parallel()
	bin, err := FindSpiceDB()
	RequireDep(t, "SpiceDB", err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sp, err := StartSpiceDB(ctx, SpiceDBOptions{Binary: bin, PresharedKey: "fixed-test-key-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	showLogsOnFailure(t, "spicedb", sp.Logs)
	if sp.PresharedKey != "fixed-test-key-0123456789abcdef" {
		t.Fatalf("key %q, want the one given", sp.PresharedKey)
	}
	cancel()
	select {
	case <-sp.proc.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("SpiceDB still running 10 s after its context ended")
	}
}

func TestSpiceDBStartFailureIsReported(t *testing.T) {
	t.Parallel()
	// A binary that exits at once stands for a SpiceDB that cannot start.
	bin := filepath.Join(t.TempDir(), "spicedb")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'boom: bad flag' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := StartSpiceDB(t.Context(), SpiceDBOptions{Binary: bin, StartTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "boom: bad flag") || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("error = %v, want the early exit with its output", err)
	}
}

// The lookup and build tests change the environment, so they run alone.

func TestFindSpiceDBOrder(t *testing.T) {
	tools := t.TempDir()
	t.Setenv(EnvTools, tools)
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvSpiceDB, "")
	if _, err := FindSpiceDB(); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("empty tool dir: %v, want ErrNotInstalled", err)
	}
	inTools := writeExe(t, tools, "spicedb")
	if got, err := FindSpiceDB(); err != nil || got != inTools {
		t.Fatalf("tool dir: %q, %v", got, err)
	}
	pathDir := t.TempDir()
	t.Setenv("PATH", pathDir)
	onPath := writeExe(t, pathDir, "spicedb")
	if got, err := FindSpiceDB(); err != nil || got != onPath {
		t.Fatalf("PATH: %q, %v, want %q", got, err, onPath)
	}
	explicit := writeExe(t, t.TempDir(), "my-spicedb")
	t.Setenv(EnvSpiceDB, explicit)
	if got, err := FindSpiceDB(); err != nil || got != explicit {
		t.Fatalf("$%s: %q, %v", EnvSpiceDB, got, err)
	}
	t.Setenv(EnvSpiceDB, filepath.Join(t.TempDir(), "missing"))
	if _, err := FindSpiceDB(); err == nil || errors.Is(err, ErrNotInstalled) {
		t.Fatalf("bad $%s: %v, want a configuration error, not ErrNotInstalled", EnvSpiceDB, err)
	}
}

func writeExe(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnsureSpiceDBBuilds runs the build path against a stand-in `go` that
// records its invocation, since the real build takes minutes.
func TestEnsureSpiceDBBuilds(t *testing.T) {
	tools := filepath.Join(t.TempDir(), "tools")
	bin := t.TempDir()
	record := filepath.Join(t.TempDir(), "invocation")
	fakeGo := "#!/bin/sh\n" +
		"echo \"$@ GOBIN=$GOBIN GOWORK=$GOWORK\" > " + record + "\n" +
		"sleep 0.3\n" +
		"printf '#!/bin/sh\\n' > \"$GOBIN/spicedb\" && chmod +x \"$GOBIN/spicedb\"\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	t.Setenv(EnvTools, tools)
	t.Setenv(EnvSpiceDB, "")

	var progress bytes.Buffer
	got, err := ensureSpiceDB(t.Context(), &progress, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tools, "spicedb"); got != want {
		t.Fatalf("path %q, want %q", got, want)
	}
	inv, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(inv), "install github.com/authzed/spicedb/cmd/spicedb@v1.56.2 GOBIN="+tools+"/.spicedb-build-") ||
		!strings.Contains(string(inv), "GOWORK=off") {
		t.Fatalf("go invoked as %q", inv)
	}
	out := progress.String()
	periodic := regexp.MustCompile(`(?m)^building SpiceDB v1\.56\.2 \(first run only, ~5 min\)… \d+s$`)
	if !periodic.MatchString(out) || !strings.Contains(out, "… done in") {
		t.Fatalf("progress output %q lacks periodic and final lines", out)
	}
	leftovers, _ := filepath.Glob(filepath.Join(tools, ".spicedb-build-*"))
	if len(leftovers) != 0 {
		t.Fatalf("build directories left behind: %v", leftovers)
	}
	// A second call finds the binary and builds nothing.
	if err := os.Remove(record); err != nil {
		t.Fatal(err)
	}
	if again, err := EnsureSpiceDB(t.Context(), nil); err != nil || again != got {
		t.Fatalf("second Ensure: %q, %v", again, err)
	}
	if _, err := os.Stat(record); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("second Ensure ran go again")
	}
}
