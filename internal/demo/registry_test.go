package demo

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// registryServer is the part of an examples/registry MCPServer document
// that must equal what the demo server advertises.
type registryServer struct {
	Kind string `yaml:"kind"`
	Spec struct {
		ID       string `yaml:"id"`
		Upstream string `yaml:"upstream"`
		Tools    []struct {
			Name        string         `yaml:"name"`
			Description string         `yaml:"description"`
			InputSchema map[string]any `yaml:"inputSchema"`
			Annotations struct {
				Title           string `yaml:"title"`
				ReadOnlyHint    *bool  `yaml:"readOnlyHint"`
				DestructiveHint *bool  `yaml:"destructiveHint"`
				IdempotentHint  *bool  `yaml:"idempotentHint"`
				OpenWorldHint   *bool  `yaml:"openWorldHint"`
			} `yaml:"annotations"`
		} `yaml:"tools"`
	} `yaml:"spec"`
}

// TestExampleRegistryPinsWhatServersAdvertise guards against drift between
// the example registry and these servers: any difference would make the
// gateway hide the tool as a rug pull in the quickstart and e2e suite.
func TestExampleRegistryPinsWhatServersAdvertise(t *testing.T) {
	t.Parallel()
	for _, id := range IDs() {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			pinned := loadRegistryServer(t, id)
			tools, err := Tools(id)
			if err != nil {
				t.Fatal(err)
			}
			addr, err := QuickstartAddr(id)
			if err != nil {
				t.Fatal(err)
			}
			if want := "http://" + addr + Path; pinned.Spec.Upstream != want {
				t.Errorf("registry upstream %q, quickstart serves %q", pinned.Spec.Upstream, want)
			}
			if len(pinned.Spec.Tools) != len(tools) {
				t.Fatalf("registry pins %d tools, server advertises %d", len(pinned.Spec.Tools), len(tools))
			}
			for i, want := range tools {
				got := pinned.Spec.Tools[i]
				a := want.Annotations
				switch {
				case got.Name != want.Name:
					t.Errorf("tool %d: registry %q, server %q", i, got.Name, want.Name)
				case got.Description != want.Description:
					t.Errorf("%s description: registry %q, server %q", want.Name, got.Description, want.Description)
				case !sameJSON(t, got.InputSchema, want.InputSchema):
					t.Errorf("%s inputSchema differs", want.Name)
				case got.Annotations.Title != a.Title ||
					!boolIs(got.Annotations.ReadOnlyHint, a.ReadOnlyHint) ||
					!boolIs(got.Annotations.IdempotentHint, a.IdempotentHint) ||
					!boolIs(got.Annotations.DestructiveHint, *a.DestructiveHint) ||
					!boolIs(got.Annotations.OpenWorldHint, *a.OpenWorldHint):
					t.Errorf("%s annotations: registry %+v, server %+v", want.Name, got.Annotations, a)
				}
			}
		})
	}
}

func boolIs(p *bool, v bool) bool { return p != nil && *p == v }

func loadRegistryServer(t *testing.T, id string) registryServer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "registry", "servers", id+".yaml"))
	if err != nil {
		t.Fatalf("example registry entry for %s: %v", id, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc registryServer
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "MCPServer" && doc.Spec.ID == id {
			return doc
		}
	}
	t.Fatalf("no MCPServer %q in examples/registry/servers/%s.yaml", id, id)
	return registryServer{}
}
