package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/actiongate/actiongate/internal/registry"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func testRegistry() *registry.Registry {
	return &registry.Registry{
		Version: registry.Version{ContentHash: "sha256:0123"},
		Servers: []registry.Server{
			{ID: "ehr", Upstream: "http://127.0.0.1:9101/mcp"},
			{ID: "mail", Upstream: "https://mail.example.com/v1/mcp"},
			{ID: "trading", Upstream: "http://127.0.0.1:9102/"},
		},
	}
}

func testOptions() Options {
	return Options{ExtAuthzAddress: "127.0.0.1:18001", ExtProcAddress: "127.0.0.1:18002", MetaAddress: "127.0.0.1:18003"}
}

func mustBuild(t *testing.T, reg *registry.Registry, o Options) *Resources {
	t.Helper()
	res, err := Build(reg, o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return res
}

// stableJSON renders a resource as indented JSON. protojson randomises its
// whitespace on purpose, so compact it first.
func stableJSON(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.MarshalOptions{Resolver: protoregistry.GlobalTypes}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c, out bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, c.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	return append(out.Bytes(), '\n')
}

func TestBuild_Golden(t *testing.T) {
	res := mustBuild(t, testRegistry(), testOptions())
	for _, r := range res.All() {
		name := cachev3.GetResourceName(r)
		t.Run(name, func(t *testing.T) {
			got := stableJSON(t, r)
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./xds -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s; if the change is intended run go test ./xds -run Golden -update\n%s", name, path, got)
			}
		})
	}
}

func hcmOf(t *testing.T, res *Resources) *hcmv3.HttpConnectionManager {
	t.Helper()
	l := res.Listeners[0].(*listenerv3.Listener)
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	return hcm
}

// TestBuild_SecuritySettings pins each setting PROTOCOLS.md calls out as
// one that makes a gateway fail open or break streaming when left default.
func TestBuild_SecuritySettings(t *testing.T) {
	res := mustBuild(t, testRegistry(), testOptions())
	hcm := hcmOf(t, res)
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() ||
		hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Error("path normalization, slash merging and escaped-slash rejection must be on")
	}
	if hcm.GetStreamIdleTimeout().AsDuration() < 10*time.Minute {
		t.Errorf("stream_idle_timeout %v would cut quiet SSE streams", hcm.GetStreamIdleTimeout().AsDuration())
	}
	fs := hcm.GetHttpFilters()
	if len(fs) != 3 || fs[0].GetName() != extAuthzFilter || fs[1].GetName() != extProcFilter || fs[2].GetName() != routerFilter {
		t.Fatalf("filter chain = %v, want ext_authz, ext_proc, router", fs)
	}
	az := &extauthzv3.ExtAuthz{}
	if err := fs[0].GetTypedConfig().UnmarshalTo(az); err != nil {
		t.Fatal(err)
	}
	wb := az.GetWithRequestBody()
	switch {
	case az.GetTransportApiVersion().String() != "V3":
		t.Error("ext_authz transport_api_version must be V3")
	case az.GetFailureModeAllow():
		t.Error("ext_authz must fail closed")
	case az.GetStatusOnError().GetCode() != typev3.StatusCode_ServiceUnavailable:
		t.Error("ext_authz status_on_error must be 503, distinct from a policy denial")
	case wb.GetMaxRequestBytes() != 1<<20 || wb.GetAllowPartialMessage() || !wb.GetPackAsBytes():
		t.Errorf("with_request_body = %v, want 1 MiB, whole body, raw bytes", wb)
	case !az.GetEncodeRawHeaders() || !az.GetValidateMutations():
		t.Error("ext_authz must encode raw headers and validate mutations")
	}
	ep := &extprocv3.ExternalProcessor{}
	if err := fs[1].GetTypedConfig().UnmarshalTo(ep); err != nil {
		t.Fatal(err)
	}
	pm := ep.GetProcessingMode()
	switch {
	case ep.GetFailureModeAllow():
		t.Error("ext_proc must fail closed")
	case pm.GetRequestBodyMode() != extprocv3.ProcessingMode_BUFFERED || pm.GetResponseBodyMode() != extprocv3.ProcessingMode_STREAMED:
		t.Errorf("processing mode = %v, want buffered request and streamed response bodies", pm)
	case !ep.GetAllowModeOverride():
		t.Error("ext_proc must allow mode override (JSON responses are buffered per response)")
	case len(ep.GetMetadataOptions().GetForwardingNamespaces().GetUntyped()) != 1:
		t.Error("ext_proc must receive ext_authz's dynamic metadata")
	}
	rc := res.Routes[0].(*routev3.RouteConfiguration)
	routes := rc.GetVirtualHosts()[0].GetRoutes()
	meta := routes[0]
	if meta.GetMatch().GetPrefix() != wellKnownPrefix || meta.GetRoute().GetCluster() != MetaCluster ||
		len(meta.GetTypedPerFilterConfig()) != 2 {
		t.Errorf("first route must send RFC 9728 metadata to %s with ext_authz and ext_proc off: %v", MetaCluster, meta)
	}
	for _, rt := range routes[1:] {
		if d := rt.GetRoute().GetTimeout(); d == nil || d.AsDuration() != 0 {
			t.Errorf("route %s timeout = %v, want explicit 0s", rt.GetName(), d)
		}
		if rt.GetMatch().GetPath() == "" {
			t.Errorf("route %s must match its path exactly", rt.GetName())
		}
	}
}

func TestBuild_Upstreams(t *testing.T) {
	res := mustBuild(t, testRegistry(), testOptions())
	byName := map[string]*clusterv3.Cluster{}
	for _, c := range res.Clusters {
		byName[c.(*clusterv3.Cluster).GetName()] = c.(*clusterv3.Cluster)
	}
	tests := []struct {
		cluster string
		typ     clusterv3.Cluster_DiscoveryType
		tls     bool
		h2      bool
	}{
		{"mcp_ehr", clusterv3.Cluster_STATIC, false, false},
		{"mcp_mail", clusterv3.Cluster_STRICT_DNS, true, false},
		{"mcp_trading", clusterv3.Cluster_STATIC, false, false},
		{ExtAuthzCluster, clusterv3.Cluster_STATIC, false, true},
		{ExtProcCluster, clusterv3.Cluster_STATIC, false, true},
		{MetaCluster, clusterv3.Cluster_STATIC, false, false},
	}
	for _, tc := range tests {
		c := byName[tc.cluster]
		if c == nil {
			t.Errorf("cluster %s missing", tc.cluster)
			continue
		}
		if c.GetType() != tc.typ || (c.GetTransportSocket() != nil) != tc.tls ||
			(len(c.GetTypedExtensionProtocolOptions()) > 0) != tc.h2 {
			t.Errorf("cluster %s: type %v tls %v h2 %v; want %v %v %v", tc.cluster, c.GetType(),
				c.GetTransportSocket() != nil, len(c.GetTypedExtensionProtocolOptions()) > 0, tc.typ, tc.tls, tc.h2)
		}
	}
	tc := &tlsv3.UpstreamTlsContext{}
	if err := byName["mcp_mail"].GetTransportSocket().GetTypedConfig().UnmarshalTo(tc); err != nil {
		t.Fatal(err)
	}
	vc := tc.GetCommonTlsContext().GetValidationContext()
	if vc.GetTrustedCa().GetFilename() != DefaultUpstreamCAFile || len(vc.GetMatchTypedSubjectAltNames()) != 1 ||
		vc.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "mail.example.com" {
		t.Errorf("https upstream must be verified against the CA bundle and its DNS name: %v", vc)
	}
	rc := res.Routes[0].(*routev3.RouteConfiguration)
	mail := rc.GetVirtualHosts()[0].GetRoutes()[2]
	if mail.GetRoute().GetPrefixRewrite() != "/v1/mcp" || mail.GetRoute().GetHostRewriteLiteral() != "mail.example.com:443" {
		t.Errorf("mail route rewrite = %q host %q", mail.GetRoute().GetPrefixRewrite(), mail.GetRoute().GetHostRewriteLiteral())
	}
}

func TestBuild_VersionIsContentHash(t *testing.T) {
	a := mustBuild(t, testRegistry(), testOptions())
	b := mustBuild(t, testRegistry(), testOptions())
	if a.Version != b.Version {
		t.Fatalf("same input, versions %s and %s", a.Version, b.Version)
	}
	changed := testRegistry()
	changed.Servers[0].Upstream = "http://127.0.0.1:9999/mcp"
	if c := mustBuild(t, changed, testOptions()); c.Version == a.Version {
		t.Error("an upstream change must change the version")
	}
	bumped := testRegistry()
	bumped.Version.ContentHash = "sha256:4567"
	if c := mustBuild(t, bumped, testOptions()); c.Version == a.Version {
		t.Error("a registry version change must change the version (it is in context_extensions)")
	}
}

func TestBuild_RejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		reg     func(*registry.Registry)
		opts    func(*Options)
		wantErr string
	}{
		{"upstream not a URL", func(r *registry.Registry) { r.Servers[0].Upstream = "ehr.internal/mcp" }, nil, "absolute http:// or https:// URL"},
		{"upstream bad port", func(r *registry.Registry) { r.Servers[0].Upstream = "http://127.0.0.1:0/mcp" }, nil, "port"},
		{"ext_authz not an IP", nil, func(o *Options) { o.ExtAuthzAddress = "authz:18001" }, "IP literal"},
		{"ext_proc missing port", nil, func(o *Options) { o.ExtProcAddress = "127.0.0.1" }, "ext_proc address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, o := testRegistry(), testOptions()
			if tc.reg != nil {
				tc.reg(reg)
			}
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, err := Build(reg, o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	reg, o := testRegistry(), testOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(reg, o); err != nil {
			b.Fatal(err)
		}
	}
}
