package envoy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"

	"github.com/actiongate/actiongate/internal/app"
	"github.com/actiongate/actiongate/xds"
)

// bootstraps finds every Envoy bootstrap we ship: YAML files under envoy/
// and deploy/ whose top level has dynamic_resources or static_resources,
// and the same inside Kubernetes ConfigMaps.
func bootstraps(t *testing.T) map[string][]byte {
	t.Helper()
	found := map[string][]byte{}
	for _, root := range []string{".", "../deploy"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			dec := yaml.NewDecoder(bytes.NewReader(b))
			for i := 0; ; i++ {
				var doc map[string]any
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				collect(t, found, path, i, doc)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

func collect(t *testing.T, found map[string][]byte, path string, i int, doc map[string]any) {
	if _, ok := doc["dynamic_resources"]; ok {
		found[path] = toJSON(t, doc)
	}
	if doc["kind"] == "ConfigMap" {
		data, _ := doc["data"].(map[string]any)
		for k, v := range data {
			s, _ := v.(string)
			var inner map[string]any
			if yaml.Unmarshal([]byte(s), &inner) == nil && inner["dynamic_resources"] != nil {
				found[path+"#"+k] = toJSON(t, inner)
			}
		}
	}
	_ = i
}

func toJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBootstraps decodes every shipped bootstrap into Envoy's own protos
// (unknown fields are errors), validates it including inside Any, and
// checks what Envoy only finds at run time: the node id the xDS server
// serves, ADS over V3, and an HTTP/2 xDS cluster.
func TestBootstraps(t *testing.T) {
	found := bootstraps(t)
	if len(found) < 2 {
		t.Fatalf("found %d bootstraps, want envoy/bootstrap.yaml and the Kubernetes one", len(found))
	}
	for name, js := range found {
		t.Run(name, func(t *testing.T) {
			bs := &bootstrapv3.Bootstrap{}
			if err := protojson.Unmarshal(js, bs); err != nil {
				t.Fatalf("not an Envoy bootstrap: %v", err)
			}
			if err := xds.ValidateMessage(bs); err != nil {
				t.Fatalf("invalid: %v", err)
			}
			if got, want := bs.GetNode().GetId(), app.Default().XDS.NodeID; got != want {
				t.Errorf("node.id %q, the xDS server serves %q", got, want)
			}
			ads := bs.GetDynamicResources().GetAdsConfig()
			if ads.GetTransportApiVersion() != corev3.ApiVersion_V3 || ads.GetApiType() != corev3.ApiConfigSource_GRPC {
				t.Errorf("ads_config must be GRPC over V3, got %v %v", ads.GetApiType(), ads.GetTransportApiVersion())
			}
			for _, src := range []*corev3.ConfigSource{bs.GetDynamicResources().GetCdsConfig(), bs.GetDynamicResources().GetLdsConfig()} {
				if src.GetAds() == nil || src.GetResourceApiVersion() != corev3.ApiVersion_V3 {
					t.Errorf("CDS and LDS must come over ADS with resource_api_version V3")
				}
			}
			xdsCluster := ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
			var ok bool
			for _, c := range bs.GetStaticResources().GetClusters() {
				if c.GetName() == xdsCluster {
					ok = len(c.GetTypedExtensionProtocolOptions()) == 1
				}
			}
			if !ok {
				t.Errorf("static cluster %q for xDS missing or without HTTP/2 protocol options", xdsCluster)
			}
		})
	}
}
