package xds

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
)

// editHCM rewrites the listener's HCM in place.
func editHCM(t *testing.T, res *Resources, edit func(*hcmv3.HttpConnectionManager)) {
	t.Helper()
	hcm := hcmOf(t, res)
	edit(hcm)
	l := res.Listeners[0].(*listenerv3.Listener)
	l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}
}

func editExtAuthz(t *testing.T, res *Resources, edit func(*extauthzv3.ExtAuthz)) {
	editHCM(t, res, func(h *hcmv3.HttpConnectionManager) {
		az := &extauthzv3.ExtAuthz{}
		if err := h.HttpFilters[0].GetTypedConfig().UnmarshalTo(az); err != nil {
			t.Fatal(err)
		}
		edit(az)
		h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(az)}
	})
}

func firstRoute(res *Resources) *routev3.Route {
	return res.Routes[0].(*routev3.RouteConfiguration).VirtualHosts[0].Routes[0]
}

func TestValidate_RejectsWhatEnvoyWould(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*testing.T, *Resources)
		wantErr string
	}{
		{"router not last", func(t *testing.T, r *Resources) {
			editHCM(t, r, func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters[1], h.HttpFilters[2] = h.HttpFilters[2], h.HttpFilters[1]
			})
		}, "router must be the last"},
		{"duplicate filter", func(t *testing.T, r *Resources) {
			editHCM(t, r, func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters = append([]*hcmv3.HttpFilter{h.HttpFilters[0]}, h.HttpFilters...)
			})
		}, "configured twice"},
		{"ext_authz transport AUTO", func(t *testing.T, r *Resources) {
			editExtAuthz(t, r, func(a *extauthzv3.ExtAuthz) { a.TransportApiVersion = corev3.ApiVersion_AUTO })
		}, "transport_api_version must be V3"},
		{"ext_authz fail open", func(t *testing.T, r *Resources) {
			editExtAuthz(t, r, func(a *extauthzv3.ExtAuthz) { a.FailureModeAllow = true })
		}, "failure_mode_allow must be false"},
		{"PGV rule inside Any", func(t *testing.T, r *Resources) {
			editExtAuthz(t, r, func(a *extauthzv3.ExtAuthz) { a.WithRequestBody.MaxRequestBytes = 0 })
		}, "MaxRequestBytes"},
		{"ext_authz cluster missing", func(t *testing.T, r *Resources) {
			editExtAuthz(t, r, func(a *extauthzv3.ExtAuthz) {
				a.GetGrpcService().GetEnvoyGrpc().ClusterName = "nowhere"
			})
		}, `grpc cluster "nowhere" is not defined`},
		{"route to missing cluster", func(t *testing.T, r *Resources) {
			firstRoute(r).GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "mcp_ghost"}
		}, `cluster "mcp_ghost" is not defined`},
		{"per-filter key names no filter", func(t *testing.T, r *Resources) {
			rt := firstRoute(r)
			rt.TypedPerFilterConfig["envoy.filters.http.ext_authz_typo"] = rt.TypedPerFilterConfig[extAuthzFilter]
		}, "names no configured http filter"},
		{"per-route config invalid", func(t *testing.T, r *Resources) {
			firstRoute(r).TypedPerFilterConfig[extAuthzFilter] = mustAny(&extauthzv3.ExtAuthzPerRoute{})
		}, "Override"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustBuild(t, testRegistry(), testOptions())
			res = cloneResources(res)
			tc.edit(t, res)
			err := Validate(res)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidate_AcceptsGenerated(t *testing.T) {
	if err := Validate(mustBuild(t, testRegistry(), testOptions())); err != nil {
		t.Fatal(err)
	}
}

func cloneResources(r *Resources) *Resources {
	cp := func(in []types.Resource) []types.Resource {
		out := make([]types.Resource, len(in))
		for i, m := range in {
			out[i] = proto.Clone(m)
		}
		return out
	}
	return &Resources{Version: r.Version, Clusters: cp(r.Clusters), Listeners: cp(r.Listeners), Routes: cp(r.Routes)}
}
