package standin

import (
	"os"
	"path/filepath"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestAcceptsXDSGoldenConfig runs the xDS package's golden resources (data
// files only; no ActionGate code is imported) through the same decoding,
// allow-list and cross-reference checks an ADS update gets, so generator
// and stand-in cannot drift apart unnoticed.
func TestAcceptsXDSGoldenConfig(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../xds/testdata/*.golden.json")
	if len(files) == 0 {
		// They are committed; their absence means the check silently stopped.
		t.Fatal("no xds golden files under ../../xds/testdata: the generator/stand-in agreement is unchecked")
	}
	byType := map[string][]*anypb.Any{}
	for _, f := range files {
		m := goldenMessage(t, f)
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		byType[a.GetTypeUrl()] = append(byType[a.GetTypeUrl()], a)
	}
	p := New(Options{})
	cs, err := p.parseClusters(&discoveryv3.DiscoveryResponse{TypeUrl: typeCDS, Resources: byType[typeCDS]})
	if err != nil {
		t.Fatalf("CDS: %v", err)
	}
	p.cfg.clusters = cs
	resp := &discoveryv3.DiscoveryResponse{TypeUrl: typeLDS, Resources: byType[typeLDS]}
	msgs, err := p.decodeResources(resp, "listener", func() named { return &listenerv3.Listener{} })
	if err != nil {
		t.Fatalf("LDS: %v", err)
	}
	for _, m := range msgs {
		lc, err := p.parseListener(m.(*listenerv3.Listener))
		if err != nil {
			t.Fatalf("LDS: %v", err)
		}
		p.cfg.listeners[lc.name] = lc
	}
	if err := p.checkGRPCClusters(p.cfg.listeners); err != nil {
		t.Fatalf("LDS: %v", err)
	}
	resp = &discoveryv3.DiscoveryResponse{TypeUrl: typeRDS, Resources: byType[typeRDS]}
	msgs, err = p.decodeResources(resp, "route_configuration", func() named { return &routev3.RouteConfiguration{} })
	if err != nil {
		t.Fatalf("RDS: %v", err)
	}
	routes := map[string]*routeConfig{}
	for _, m := range msgs {
		rc, err := p.parseRouteConfig(m.(*routev3.RouteConfiguration))
		if err != nil {
			t.Fatalf("RDS: %v", err)
		}
		routes[rc.name] = rc
	}
	if err := p.checkPerFilterNames(routes); err != nil {
		t.Fatalf("RDS: %v", err)
	}
	if err := p.checkRouteClusters(routes); err != nil {
		t.Fatalf("RDS: %v", err)
	}
}

func goldenMessage(t *testing.T, file string) proto.Message {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []proto.Message{&listenerv3.Listener{}, &routev3.RouteConfiguration{}, &clusterv3.Cluster{}} {
		if protojson.Unmarshal(b, m) == nil && isKind(m) {
			return m
		}
	}
	t.Fatalf("%s: not a listener, route configuration or cluster", file)
	return nil
}

// isKind tells the three resource types apart by a field only each has.
func isKind(m proto.Message) bool {
	switch x := m.(type) {
	case *listenerv3.Listener:
		return len(x.GetFilterChains()) > 0
	case *routev3.RouteConfiguration:
		return len(x.GetVirtualHosts()) > 0
	case *clusterv3.Cluster:
		return x.GetLoadAssignment() != nil
	}
	return false
}
