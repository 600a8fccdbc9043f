package standin

import (
	"maps"
	"strings"
)

// selectVirtualHost follows Envoy's domain precedence: exact host, then the
// longest suffix wildcard ("*.example.com"), then the longest prefix
// wildcard ("example.*"), then "*". The host is compared with its port.
func (rc *routeConfig) selectVirtualHost(authority string) *virtualHost {
	host := strings.ToLower(authority)
	var suffix, prefix, any *virtualHost
	suffixLen, prefixLen := -1, -1
	for _, vh := range rc.vhosts {
		for _, d := range vh.domains {
			switch {
			case d == host:
				return vh
			case d == "*":
				if any == nil {
					any = vh
				}
			case d[0] == '*' && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1 && len(d) > suffixLen:
				suffix, suffixLen = vh, len(d)
			case d[len(d)-1] == '*' && strings.HasPrefix(host, d[:len(d)-1]) && len(host) > len(d)-1 && len(d) > prefixLen:
				prefix, prefixLen = vh, len(d)
			}
		}
	}
	switch {
	case suffix != nil:
		return suffix
	case prefix != nil:
		return prefix
	}
	return any
}

// matchRoute returns the first route whose path matcher accepts the path
// (query string excluded), or nil.
func (vh *virtualHost) matchRoute(pathWithQuery string) *route {
	path, _, _ := strings.Cut(pathWithQuery, "?")
	for _, r := range vh.routes {
		if r.isExact && path == r.exactPath {
			return r
		}
		if !r.isExact && strings.HasPrefix(path, r.prefix) {
			return r
		}
	}
	return nil
}

// extAuthzRouteSettings merges per-route ext_authz config like Envoy:
// context_extensions merged virtual host → route (the more specific key
// wins); disabled and the check settings come from the most specific config.
func (s *stream) extAuthzRouteSettings(filterName string) (specific *extAuthzPerRoute, ctxExt map[string]string) {
	ctxExt = map[string]string{}
	for _, pf := range s.perFilterChain() {
		if c, ok := pf[filterName].(*extAuthzPerRoute); ok {
			specific = c
			maps.Copy(ctxExt, c.contextExt)
		}
	}
	return specific, ctxExt
}

func (s *stream) extProcDisabled(filterName string) bool {
	disabled := false
	for _, pf := range s.perFilterChain() {
		if c, ok := pf[filterName].(*extProcPerRoute); ok {
			disabled = c.disabled
		}
	}
	return disabled
}

// perFilterChain lists per-filter configs from least to most specific.
func (s *stream) perFilterChain() []map[string]any {
	if s.route == nil {
		return nil
	}
	return []map[string]any{s.vhost.perFilter, s.route.perFilter}
}
