package standin

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestApplyMutation_DefaultRules(t *testing.T) {
	t.Parallel()
	base := func() *headerMap {
		return newHeaderMap(":method", "POST", ":path", "/mcp", ":authority", "a", "host", "a", "x-keep", "1", "content-length", "2")
	}
	appendOpt := func(k, v string) *corev3.HeaderValueOption {
		o := rawHeader(k, v)
		o.Append = wrapperspb.Bool(true)
		return o
	}
	cases := []struct {
		name    string
		m       *extprocsvc.HeaderMutation
		rules   mutationRules
		want    string // rendered header map after the mutation
		wantErr string
	}{
		{"set overwrites, append adds an entry",
			&extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader("x-keep", "2"), appendOpt("x-keep", "3")}},
			mutationRules{}, ":method=POST :path=/mcp :authority=a host=a x-keep=2 content-length=2 x-keep=3", ""},
		{"routing and x-envoy headers are ignored by default",
			&extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader(":authority", "evil"), rawHeader("x-envoy-foo", "1"), rawHeader(":method", "GET")}},
			mutationRules{}, ":method=POST :path=/mcp :authority=a host=a x-keep=1 content-length=2", ""},
		{":path may be rewritten; :method only when replacing",
			&extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader(":path", "/x"), rawHeader(":method", "GET")}},
			mutationRules{replacing: true}, ":method=GET :path=/x :authority=a host=a x-keep=1 content-length=2", ""},
		{"pseudo-headers and host cannot be removed",
			&extprocsvc.HeaderMutation{RemoveHeaders: []string{":path", "host", "X-Keep"}},
			mutationRules{}, ":method=POST :path=/mcp :authority=a host=a content-length=2", ""},
		{"content-length sets are skipped in streamed modes",
			&extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader("content-length", "9")}},
			mutationRules{skipContentLength: true}, ":method=POST :path=/mcp :authority=a host=a x-keep=1 content-length=2", ""},
		{"both value and raw_value is an error",
			&extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x", Value: "a", RawValue: []byte("a")}}}},
			mutationRules{}, "", "both value and raw_value"},
		{"invalid value is an error",
			&extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{rawHeader("x", "a\nb")}},
			mutationRules{}, "", "invalid header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := base()
			err := applyMutation(h, tc.m, tc.rules)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, e := range h.entries {
				parts = append(parts, e.key+"="+e.value)
			}
			if got := strings.Join(parts, " "); got != tc.want {
				t.Errorf("headers\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
