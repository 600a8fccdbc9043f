package extauthz

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/actiongate/actiongate/internal/registry"
)

func TestMetadataHandler(t *testing.T) {
	reg := exampleRegistry(t)
	h := MetadataHandler(func() *registry.Registry { return reg }, MetadataOptions{PublicURL: "https://gw.example.com/", AuthorizationServers: []string{"https://idp.example.com"}})
	tests := []struct {
		method, path string
		status       int
		resource     string
	}{
		{"GET", "/.well-known/oauth-protected-resource/mcp/ehr", 200, "https://gw.example.com/mcp/ehr"},
		{"GET", "/.well-known/oauth-protected-resource/mcp/shadow", 404, ""},
		{"GET", "/.well-known/oauth-protected-resource", 404, ""},
		{"POST", "/.well-known/oauth-protected-resource/mcp/ehr", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.resource == "" {
				return
			}
			var doc protectedResource
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Resource != tc.resource || len(doc.AuthorizationServers) != 1 || doc.BearerMethodsSupported[0] != "header" {
				t.Errorf("metadata %+v", doc)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("content-type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}
