package standin

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestRouter_UnreachableUpstreamIs503(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	h.cfg.upstreamAddr = dead
	v := h.setConfig(h.cfg)
	eventually(t, "v2", func() bool { return h.proxy.Stats().AppliedVersion["RDS"] == v })
	resp, body := h.post("/mcp/ehr", `{}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "reset reason: connection failure") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("local reply content-type %q", resp.Header.Get("Content-Type"))
	}
}

func TestRouter_RouteTimeoutIs504(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.upstream.handle("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	resp, body := h.post("/mcp/slow", `{}`)
	if resp.StatusCode != http.StatusGatewayTimeout || string(body) != "upstream request timeout" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	seen := h.upstream.requests()
	if len(seen) != 1 || seen[0].Header.Get("X-Envoy-Expected-Rq-Timeout-Ms") != "200" {
		t.Errorf("upstream saw %v", seen)
	}
}

func TestHCM_StreamIdleTimeoutIs408(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withConfig(func(c *testConfig) {
		c.hcm = func(m *hcmv3.HttpConnectionManager) { m.StreamIdleTimeout = durationpb.New(150 * time.Millisecond) }
	}))
	h.upstream.handle("/.well-known/quiet", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	req, _ := http.NewRequest(http.MethodGet, h.url("/.well-known/quiet"), nil)
	resp, body := h.do(req)
	if resp.StatusCode != http.StatusRequestTimeout || string(body) != "stream timeout" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

func TestHCM_PathNormalizationAndHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := []struct {
		path string
		want int
	}{
		{"/mcp/ehr", http.StatusOK},
		{"/mcp/./ehr", http.StatusOK},
		{"/mcp//ehr", http.StatusOK},
		{"/mcp/x/../ehr", http.StatusOK},
		{"/mcp/%65hr", http.StatusOK}, // %65 is 'e', an unreserved character
		{"/mcp%2Fehr", http.StatusBadRequest},
		{"/mcp%5cehr", http.StatusBadRequest},
		{"/mcp/ehr/", http.StatusNotFound},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr, strings.NewReader(`{}`))
		req.URL.Opaque = tc.path
		resp, body := h.do(req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: got %d %q, want %d", tc.path, resp.StatusCode, body, tc.want)
		}
	}
	// The router forwards what the filters saw: hop-by-hop headers gone,
	// the client's content-length kept, no user-agent invented.
	req, _ := http.NewRequest(http.MethodPost, h.url("/mcp/ehr"), strings.NewReader(`{"a":1}`))
	req.Header.Set("Connection", "keep-alive, x-foo")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("User-Agent", "")
	resp, body := h.do(req)
	var seen seenRequest
	if err := json.Unmarshal(body, &seen); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %v %s", resp.StatusCode, err, body)
	}
	if seen.Header.Get("Keep-Alive") != "" || seen.ContentLength != 7 || seen.Chunked || seen.Header.Get("User-Agent") != "" {
		t.Errorf("upstream saw headers %v content-length %d chunked %v", seen.Header, seen.ContentLength, seen.Chunked)
	}
}

func TestNormalizeRequestPath(t *testing.T) {
	t.Parallel()
	cfg := &hcmConfig{normalizePath: true, mergeSlashes: true, escapedSlashes: slashesReject}
	cases := []struct {
		in, want string
		err      bool
	}{
		{"/a/b", "/a/b", false},
		{"/a/./b/../c", "/a/c", false},
		{"/a/b/..", "/a/", false},
		{"/..", "/", false},
		{"/a/%2e%2E/b", "/b", false},
		{"/a/%7e%41", "/a/~A", false},
		{"/a/%3f", "/a/%3F", false},
		{`/a\b`, "/a/b", false},
		{"/a b", "/a%20b", false},
		{"//a///b", "/a/b", false},
		{"/a%2fb", "", true},
		{"/a%5Cb", "", true},
		{"/a%zz", "", true},
		{"/a%4", "", true},
		{"a/b", "", true},
	}
	for _, tc := range cases {
		got, err := normalizeRequestPath(tc.in, cfg)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("normalize(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	keep := &hcmConfig{escapedSlashes: slashesUnescapeAndForward}
	if got, _ := normalizeRequestPath("/a%2Fb", keep); got != "/a/b" {
		t.Errorf("UNESCAPE_AND_FORWARD: %q", got)
	}
}

// An https upstream by DNS name: STRICT_DNS + V4_ONLY and an
// UpstreamTlsContext with an SNI, verified against the trusted_ca file and
// the DNS SAN, as the generated configuration asks.
func TestRouter_StrictDNSAndTLSUpstream(t *testing.T) {
	t.Parallel()
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "tls:"+r.TLS.ServerName+":"+r.Host)
	}))
	t.Cleanup(tlsUp.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsUp.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tlsUp.URL, "https://"))
	h := newHarness(t)
	h.cfg.clusters = func(cs []*clusterv3.Cluster) []*clusterv3.Cluster {
		c := staticCluster(mcpCluster, "127.0.0.1:"+port, time.Second)
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_ONLY
		c.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address = socketAddr("localhost", 0)
		c.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().PortSpecifier =
			&corev3.SocketAddress_PortValue{PortValue: uint32(mustAtoi(port))}
		c.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(verifiedTLS("example.com", caFile))}}
		return []*clusterv3.Cluster{cs[0], cs[1], c}
	}
	h.cfg.upstreamAddr = "example.com:" + port
	v := h.setConfig(h.cfg)
	eventually(t, "TLS cluster", func() bool { return h.proxy.Stats().AppliedVersion["RDS"] == v })
	resp, body := h.post("/mcp/ehr", `{}`)
	if resp.StatusCode != http.StatusOK || string(body) != "tls:example.com:example.com:"+port {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func verifiedTLS(host, caFile string) *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{Sni: host, CommonTlsContext: &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caFile}},
			MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: host}}}},
		}}}}
}
