package registry

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pinTenant = `apiVersion: actiongate.dev/v1
kind: Tenant
spec: {id: acme, name: Acme}
`

const pinServer = `# keep this comment
apiVersion: actiongate.dev/v1
kind: MCPServer
spec:
  id: mail
  upstream: http://127.0.0.1:9/mcp
  owner: o@example.com
  purpose: mail
  classification: internal
  tools:
    - name: read_inbox   # trailing comment stays
      description: Read the inbox
      risk: low
      inputSchema: {type: object}
    - name: send_email
      pin: sha256:0000000000000000000000000000000000000000000000000000000000000000
      description: Send an email
      risk: high
      inputSchema:
        type: object
`

func writeRegistry(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPinFiles(t *testing.T) {
	dir := writeRegistry(t, map[string]string{"tenant.yaml": pinTenant, "mail.yaml": pinServer})
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "does not match the tool's definition") {
		t.Fatalf("a stale pin loaded: %v", err)
	}
	dry, err := PinFiles(dir, true)
	if err != nil || len(dry) != 2 {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mail.yaml")); string(b) != pinServer {
		t.Fatal("dry run wrote the file")
	}
	changes, err := PinFiles(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := Load(dir)
	if err != nil {
		t.Fatalf("pinned registry does not load: %v", err)
	}
	srv, _ := reg.Server("mail")
	b, _ := os.ReadFile(filepath.Join(dir, "mail.yaml"))
	lines := strings.Split(string(b), "\n")
	for _, c := range changes {
		tool, _ := srv.Tool(c.Tool)
		if tool.Pin != tool.DefinitionHash() || c.New != tool.Pin {
			t.Errorf("%s: pin %q, definition %q, change %+v", c.Tool, tool.Pin, tool.DefinitionHash(), c)
		}
		if got := strings.TrimSpace(lines[c.Line-1]); got != "pin: "+c.New {
			t.Errorf("%s: line %d is %q", c.Tool, c.Line, got)
		}
	}
	for _, keep := range []string{"# keep this comment", "- name: read_inbox   # trailing comment stays", "inputSchema: {type: object}"} {
		if !strings.Contains(string(b), keep) {
			t.Errorf("formatting lost: %q missing in\n%s", keep, b)
		}
	}
	if again, err := PinFiles(dir, false); err != nil || len(again) != 0 {
		t.Fatalf("second run changed %+v (%v)", again, err)
	}

	// A definition edit makes the pin stale again; pinning accepts it.
	edited := strings.Replace(string(b), "Read the inbox", "Read the inbox and forward it", 1)
	if err := os.WriteFile(filepath.Join(dir, "mail.yaml"), []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("edited definition loaded with the old pin")
	}
	ch, err := PinFiles(dir, false)
	if err != nil || len(ch) != 1 || ch[0].Tool != "read_inbox" || ch[0].Old == "" {
		t.Fatalf("re-pin: %+v %v", ch, err)
	}
}

func TestPinFiles_RefusesInvalidRegistry(t *testing.T) {
	bad := strings.Replace(pinServer, "risk: low", "risk: extreme", 1)
	dir := writeRegistry(t, map[string]string{"tenant.yaml": pinTenant, "mail.yaml": bad})
	_, err := PinFiles(dir, false)
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "risk") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mail.yaml")); string(b) != bad {
		t.Fatal("an invalid registry was written")
	}
}
