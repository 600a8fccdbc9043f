package standin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestXDS_AcksGeneratedConfigAndRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	eventually(t, "ACKs of v1 for all types", func() bool {
		st := h.proxy.Stats()
		return st.AppliedVersion["CDS"] == "v1" && st.AppliedVersion["LDS"] == "v1" && st.AppliedVersion["RDS"] == "v1"
	})
	if st := h.proxy.Stats(); len(st.NACKs) != 0 {
		t.Fatalf("unexpected NACKs: %v (%s)", st.NACKs, st.LastNACKError)
	}
	resp, body := h.post("/mcp/ehr?session=1", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var seen seenRequest
	if err := json.Unmarshal(body, &seen); err != nil {
		t.Fatalf("upstream echo: %v: %s", err, body)
	}
	if seen.Path != "/mcp?session=1" || seen.Host != h.upstream.addr {
		t.Errorf("upstream saw path %q host %q; want /mcp?session=1 and %s", seen.Path, seen.Host, h.upstream.addr)
	}
	if seen.Header.Get("X-Envoy-Original-Path") != "/mcp/ehr?session=1" {
		t.Errorf("x-envoy-original-path = %q", seen.Header.Get("X-Envoy-Original-Path"))
	}
	if resp.Header.Get("Server") != "envoy" || resp.Header.Get("X-Envoy-Upstream-Service-Time") == "" {
		t.Errorf("response headers %v lack server: envoy / x-envoy-upstream-service-time", resp.Header)
	}
	if n := len(h.authz.checks()); n != 1 {
		t.Errorf("ext_authz checks = %d, want 1", n)
	}
}

// TestXDS_NacksWhatItDoesNotImplement: each bad update is NACKed with the
// previous version and an error naming the problem, the previous config
// keeps serving, and a later good version is accepted.
type nackCase struct {
	name    string
	typeURL string
	mutate  func(*testConfig)
	want    string
}

func nackCases() []nackCase {
	return []nackCase{
		{"hcm use_remote_address", typeLDS, func(c *testConfig) {
			c.hcm = func(h *hcmv3.HttpConnectionManager) { h.UseRemoteAddress = wrapperspb.Bool(true) }
		}, "use_remote_address is not implemented"},
		{"route retry_policy", typeRDS, func(c *testConfig) {
			c.routes = func(rc *routev3.RouteConfiguration) {
				rc.VirtualHosts[0].Routes[0].GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx"}
			}
		}, "retry_policy is not implemented"},
		{"ext_authz transport_api_version AUTO", typeLDS, func(c *testConfig) {
			c.extAuthz = func(a *extauthzv3.ExtAuthz) { a.TransportApiVersion = corev3.ApiVersion_AUTO }
		}, "transport_api_version"},
		{"router not last", typeLDS, func(c *testConfig) {
			c.hcm = func(h *hcmv3.HttpConnectionManager) {
				f := h.HttpFilters
				h.HttpFilters = []*hcmv3.HttpFilter{f[0], f[2], f[1]}
			}
		}, "must be last"},
		{"per-filter config names no filter", typeRDS, func(c *testConfig) {
			c.routes = func(rc *routev3.RouteConfiguration) {
				r := rc.VirtualHosts[0].Routes[0]
				r.TypedPerFilterConfig = map[string]*anypb.Any{"ext_authz": r.TypedPerFilterConfig[authzFilter]}
			}
		}, `key "ext_authz" names no configured HTTP filter`},
		{"route to missing cluster", typeRDS, func(c *testConfig) {
			c.routes = func(rc *routev3.RouteConfiguration) {
				rc.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "mcp_missing"}
			}
		}, `cluster "mcp_missing" is not in CDS`},
		{"ext_proc FULL_DUPLEX_STREAMED", typeLDS, func(c *testConfig) {
			c.extProc = func(e *extprocv3.ExternalProcessor) {
				e.ProcessingMode.ResponseBodyMode = extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED
			}
		}, "FULL_DUPLEX_STREAMED is not implemented"},
		{"EDS cluster", typeCDS, func(c *testConfig) {
			c.clusters = func(cs []*clusterv3.Cluster) []*clusterv3.Cluster {
				cs[2].ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
				return cs
			}
		}, "type EDS is not implemented"},
		{"upstream TLS without verification", typeCDS, func(c *testConfig) {
			c.clusters = func(cs []*clusterv3.Cluster) []*clusterv3.Cluster {
				cs[2].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
					ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{Sni: "example.com"})}}
				return cs
			}
		}, "Envoy would not verify the certificate"},
	}
}

func TestXDS_NacksWhatItDoesNotImplement(t *testing.T) {
	t.Parallel()
	for _, tc := range nackCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			eventually(t, "v1 applied", func() bool { return h.proxy.Stats().AppliedVersion[shortType[tc.typeURL]] == "v1" })
			bad := h.cfg
			tc.mutate(&bad)
			h.setConfig(bad)
			eventually(t, "NACK", func() bool { return h.nackFor(tc.typeURL) != nil })
			nack := h.nackFor(tc.typeURL)
			if nack.GetVersionInfo() != "v1" {
				t.Errorf("NACK version_info = %q, want the previous good v1", nack.GetVersionInfo())
			}
			if !strings.Contains(nack.GetErrorDetail().GetMessage(), tc.want) {
				t.Errorf("NACK error %q does not contain %q", nack.GetErrorDetail().GetMessage(), tc.want)
			}
			st := h.proxy.Stats()
			if st.NACKs[shortType[tc.typeURL]] == 0 || st.AppliedVersion[shortType[tc.typeURL]] != "v1" {
				t.Errorf("stats after NACK: NACKs %v applied %v", st.NACKs, st.AppliedVersion)
			}
			if resp, body := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusOK {
				t.Errorf("previous config no longer serves: %d %s", resp.StatusCode, body)
			}
			good := h.setConfig(h.cfg)
			eventually(t, "recovery", func() bool { return h.proxy.Stats().AppliedVersion[shortType[tc.typeURL]] == good })
		})
	}
}

func TestXDS_RouteWaitsForItsCluster(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A route and its new cluster in one snapshot: whichever type arrives
	// first, the update is accepted without a NACK.
	next := h.cfg
	next.clusters = func(cs []*clusterv3.Cluster) []*clusterv3.Cluster {
		return append(cs, staticCluster("mcp_new", h.upstream.addr, time.Second))
	}
	next.routes = func(rc *routev3.RouteConfiguration) {
		rc.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "mcp_new"}
	}
	v := h.setConfig(next)
	eventually(t, "v2 applied", func() bool {
		st := h.proxy.Stats()
		return st.AppliedVersion["RDS"] == v && st.AppliedVersion["CDS"] == v
	})
	if n := h.proxy.Stats().NACKs; len(n) != 0 {
		t.Fatalf("NACKs %v", n)
	}
}

func TestXDS_ReconnectsAndResubscribes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.adsStop()
	h.serveADS(h.adsAddr) // same address: the stand-in reconnects with backoff
	v := h.setConfig(h.cfg)
	eventually(t, "v2 after reconnect", func() bool {
		st := h.proxy.Stats()
		return st.AppliedVersion["CDS"] == v && st.AppliedVersion["LDS"] == v && st.AppliedVersion["RDS"] == v
	})
	if resp, _ := h.post("/mcp/ehr", `{}`); resp.StatusCode != http.StatusOK {
		t.Errorf("status %d after reconnect", resp.StatusCode)
	}
}
