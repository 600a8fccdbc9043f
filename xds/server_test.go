package xds

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func startADS(t *testing.T) (*Server, discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, *prometheus.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	metrics := prometheus.NewRegistry()
	s := NewServer(ctx, ServerOptions{Build: testOptions(), Metrics: metrics})
	g := grpc.NewServer()
	s.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, stream, metrics
}

func recvWithin(t *testing.T, stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) *discoveryv3.DiscoveryResponse {
	t.Helper()
	type result struct {
		r   *discoveryv3.DiscoveryResponse
		err error
	}
	ch := make(chan result, 1)
	go func() { r, err := stream.Recv(); ch <- result{r, err} }()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.r
	case <-time.After(10 * time.Second):
		t.Fatal("no xDS response within 10s")
	}
	return nil
}

// TestServer_ACKNACKRollback drives the server as Envoy does: subscribe,
// ACK, then NACK a new version; the server must count the NACK and push the
// last ACKed configuration under a fresh version instead of looping.
func TestServer_ACKNACKRollback(t *testing.T) {
	s, stream, metrics := startADS(t)
	ctx := context.Background()
	first, err := s.Update(ctx, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: DefaultNodeID}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp := recvWithin(t, stream)
	if resp.GetVersionInfo() != first.Version || len(resp.GetResources()) != len(first.Clusters) {
		t.Fatalf("got version %s with %d clusters, want %s with %d", resp.GetVersionInfo(), len(resp.GetResources()),
			first.Version, len(first.Clusters))
	}
	ack := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType,
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
	if err := stream.Send(ack); err != nil {
		t.Fatal(err)
	}

	changed := testRegistry()
	changed.Servers[0].Upstream = "http://127.0.0.1:9111/mcp"
	second, err := s.Update(ctx, changed)
	if err != nil {
		t.Fatal(err)
	}
	resp = recvWithin(t, stream)
	if resp.GetVersionInfo() != second.Version {
		t.Fatalf("got version %s, want %s", resp.GetVersionInfo(), second.Version)
	}
	nack := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType,
		VersionInfo: first.Version, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: "test: unsupported field"}}
	if err := stream.Send(nack); err != nil {
		t.Fatal(err)
	}
	resp = recvWithin(t, stream)
	if !strings.HasPrefix(resp.GetVersionInfo(), first.Version+"-rollback-") {
		t.Fatalf("after NACK got version %s, want a rollback of %s", resp.GetVersionInfo(), first.Version)
	}
	if n := testutil.ToFloat64(s.nacks.WithLabelValues(resource.ClusterType)); n != 1 {
		t.Errorf("nacks counted = %v, want 1", n)
	}
	if _, err := metrics.Gather(); err != nil {
		t.Errorf("metrics: %v", err)
	}
}

func TestServer_InvalidRegistryKeepsPrevious(t *testing.T) {
	s, _, _ := startADS(t)
	good, err := s.Update(context.Background(), testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	bad := testRegistry()
	bad.Servers[1].Upstream = "ftp://mail.example.com/"
	if _, err := s.Update(context.Background(), bad); err == nil {
		t.Fatal("an invalid upstream must not publish")
	}
	if s.Current().Version != good.Version {
		t.Errorf("current = %s, want the previous %s", s.Current().Version, good.Version)
	}
}
