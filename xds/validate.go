package xds

import (
	"errors"
	"fmt"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	// Register the extension types our config packs into Any, so they can
	// be unpacked and validated.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

type allValidator interface{ ValidateAll() error }

// ValidateMessage runs the protoc-gen-validate rules on m and on every
// message packed in an Any inside it, at any depth. PGV alone stops at Any,
// which is where all filter configuration lives.
func ValidateMessage(m proto.Message) error {
	if v, ok := m.(allValidator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	var errs []error
	walkAny(m.ProtoReflect(), func(path string, a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot unpack %s: %w", path, a.GetTypeUrl(), err))
			return
		}
		if err := ValidateMessage(inner); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", path, a.GetTypeUrl(), err))
		}
	})
	return errors.Join(errs...)
}

// walkAny calls fn for each populated Any directly reachable from m
// (not descending into the Anys themselves; ValidateMessage recurses).
func walkAny(m protoreflect.Message, fn func(path string, a *anypb.Any)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		visit := func(path string, mv protoreflect.Message) {
			if a, ok := mv.Interface().(*anypb.Any); ok {
				fn(path, a)
				return
			}
			walkAny(mv, fn)
		}
		name := string(fd.Name())
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				visit(fmt.Sprintf("%s[%d]", name, i), v.List().Get(i).Message())
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					visit(fmt.Sprintf("%s[%s]", name, k.String()), mv.Message())
					return true
				})
			}
		default:
			visit(name, v.Message())
		}
		return true
	})
}

// Validate checks what PGV cannot know (PROTOCOLS.md C.5): V3 transport,
// router last, unique filter names, per-filter keys naming configured
// filters, every referenced cluster present, and a lossless JSON round trip.
func Validate(r *Resources) error {
	var errs []error
	clusters := map[string]bool{}
	for _, res := range r.All() {
		name := cachev3.GetResourceName(res)
		if err := ValidateMessage(res); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if err := roundTrip(res); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if c, ok := res.(*clusterv3.Cluster); ok {
			clusters[c.GetName()] = true
		}
	}
	var filters []string
	for _, res := range r.Listeners {
		fs, err := checkListener(res.(*listenerv3.Listener), clusters)
		errs = append(errs, err)
		filters = append(filters, fs...)
	}
	for _, res := range r.Routes {
		errs = append(errs, checkRoutes(res.(*routev3.RouteConfiguration), filters, clusters))
	}
	return errors.Join(errs...)
}

func checkListener(l *listenerv3.Listener, clusters map[string]bool) ([]string, error) {
	var names []string
	var errs []error
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
				errs = append(errs, fmt.Errorf("listener %s: filter %s is not an HttpConnectionManager", l.GetName(), f.GetName()))
				continue
			}
			fs, err := checkHTTPFilters(hcm, clusters)
			names = append(names, fs...)
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.GetName(), err)
	}
	return names, nil
}

func checkHTTPFilters(hcm *hcmv3.HttpConnectionManager, clusters map[string]bool) ([]string, error) {
	var names []string
	var errs []error
	for i, f := range hcm.GetHttpFilters() {
		if slices.Contains(names, f.GetName()) {
			errs = append(errs, fmt.Errorf("http filter %q configured twice", f.GetName()))
		}
		names = append(names, f.GetName())
		if f.GetName() == routerFilter && i != len(hcm.GetHttpFilters())-1 {
			errs = append(errs, fmt.Errorf("router must be the last http filter"))
		}
		inner, err := f.GetTypedConfig().UnmarshalNew()
		if err != nil {
			continue // reported by ValidateMessage
		}
		errs = append(errs, checkSideService(f.GetName(), inner, clusters))
	}
	if len(names) == 0 || names[len(names)-1] != routerFilter {
		errs = append(errs, fmt.Errorf("the last http filter must be %s", routerFilter))
	}
	return names, errors.Join(errs...)
}

// checkSideService: Envoy does not check that a filter's gRPC cluster
// exists until a request fails, and rejects AUTO/V2 transport only at load.
func checkSideService(name string, cfg proto.Message, clusters map[string]bool) error {
	var gs *corev3.GrpcService
	switch c := cfg.(type) {
	case *extauthzv3.ExtAuthz:
		if c.GetTransportApiVersion() != corev3.ApiVersion_V3 {
			return fmt.Errorf("%s: transport_api_version must be V3", name)
		}
		if c.GetFailureModeAllow() {
			return fmt.Errorf("%s: failure_mode_allow must be false (fail closed)", name)
		}
		gs = c.GetGrpcService()
	case *extprocv3.ExternalProcessor:
		if c.GetFailureModeAllow() {
			return fmt.Errorf("%s: failure_mode_allow must be false (fail closed)", name)
		}
		gs = c.GetGrpcService()
	default:
		return nil
	}
	if cl := gs.GetEnvoyGrpc().GetClusterName(); !clusters[cl] {
		return fmt.Errorf("%s: grpc cluster %q is not defined", name, cl)
	}
	return nil
}

func checkRoutes(rc *routev3.RouteConfiguration, filters []string, clusters map[string]bool) error {
	var errs []error
	checkPerFilter := func(where string, m map[string]*anypb.Any) {
		for k := range m {
			if !slices.Contains(filters, k) {
				errs = append(errs, fmt.Errorf("%s: typed_per_filter_config key %q names no configured http filter", where, k))
			}
		}
	}
	for _, vh := range rc.GetVirtualHosts() {
		checkPerFilter("virtual host "+vh.GetName(), vh.GetTypedPerFilterConfig())
		for _, rt := range vh.GetRoutes() {
			where := "route " + rt.GetName()
			checkPerFilter(where, rt.GetTypedPerFilterConfig())
			if cl := rt.GetRoute().GetCluster(); cl != "" && !clusters[cl] {
				errs = append(errs, fmt.Errorf("%s: cluster %q is not defined", where, cl))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("route configuration %s: %w", rc.GetName(), err)
	}
	return nil
}

// roundTrip proves the resource survives JSON (what an operator dumps and
// what `envoy --mode validate` would read) unchanged.
func roundTrip(res types.Resource) error {
	b, err := protojson.MarshalOptions{Resolver: protoregistry.GlobalTypes}.Marshal(res)
	if err != nil {
		return fmt.Errorf("json encode: %w", err)
	}
	back := res.ProtoReflect().New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, back); err != nil {
		return fmt.Errorf("json decode: %w", err)
	}
	if !proto.Equal(res, back) {
		return errors.New("json round trip changed the resource")
	}
	return nil
}
