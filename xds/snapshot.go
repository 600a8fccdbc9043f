package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/actiongate/actiongate/internal/registry"
)

// Resources is one generated configuration, by xDS type, in a fixed order.
type Resources struct {
	Version   string
	Clusters  []types.Resource
	Listeners []types.Resource
	Routes    []types.Resource
}

// Build generates and validates the configuration for one registry version.
// It is a pure function: same registry and options, same resources and
// version.
func Build(reg *registry.Registry, o Options) (*Resources, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	ups, err := upstreams(reg)
	if err != nil {
		return nil, err
	}
	res := &Resources{
		Clusters: []types.Resource{
			grpcCluster(ExtAuthzCluster, o.ExtAuthzAddress),
			grpcCluster(ExtProcCluster, o.ExtProcAddress),
		},
		Listeners: []types.Resource{listener(o)},
		Routes:    []types.Resource{routeConfig(reg, ups, o)},
	}
	if o.MetaAddress != "" {
		res.Clusters = append(res.Clusters, metaCluster(o.MetaAddress))
	}
	for _, u := range ups {
		res.Clusters = append(res.Clusters, upstreamCluster(u, o.UpstreamCAFile))
	}
	if err := Validate(res); err != nil {
		return nil, err
	}
	res.Version, err = contentVersion(res)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Snapshot wraps the resources for the SnapshotCache and checks that every
// RDS/EDS resource is referenced (an unreferenced one stalls ADS delivery).
func (r *Resources) Snapshot() (*cachev3.Snapshot, error) {
	snap, err := cachev3.NewSnapshot(r.Version, map[resource.Type][]types.Resource{
		resource.ClusterType:  r.Clusters,
		resource.ListenerType: r.Listeners,
		resource.RouteType:    r.Routes,
	})
	if err != nil {
		return nil, fmt.Errorf("xds: snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("xds: snapshot not consistent: %w", err)
	}
	return snap, nil
}

// All returns every resource, clusters first, as Envoy applies them.
func (r *Resources) All() []types.Resource {
	out := make([]types.Resource, 0, len(r.Clusters)+len(r.Listeners)+len(r.Routes))
	out = append(out, r.Clusters...)
	out = append(out, r.Listeners...)
	return append(out, r.Routes...)
}

// contentVersion hashes the deterministic encoding of every resource, so a
// registry edit that changes nothing Envoy sees pushes nothing, and any
// change gets a new version (the SnapshotCache answers only on change).
func contentVersion(r *Resources) (string, error) {
	h := sha256.New()
	det := proto.MarshalOptions{Deterministic: true}
	for _, res := range r.All() {
		b, err := det.Marshal(res)
		if err != nil {
			return "", fmt.Errorf("xds: encode %s: %w", cachev3.GetResourceName(res), err)
		}
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// mustAny packs a generated message. Marshalling a well-formed generated
// message cannot fail, so a failure is a programming error.
func mustAny(m proto.Message) *anypb.Any {
	// Deterministic, so map fields (context_extensions) encode the same
	// way every time: the bytes feed the content-hash version.
	a := &anypb.Any{}
	err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		panic(fmt.Sprintf("xds: pack %T: %v", m, err))
	}
	return a
}
