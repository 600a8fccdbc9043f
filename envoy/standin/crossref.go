package standin

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Cross-resource checks Envoy leaves to request time but the stand-in
// enforces at config time, so a generator bug shows up as a NACK naming
// the resource instead of a 503 in some later test.

func (p *Proxy) checkGRPCClusters(next map[string]*listenerConfig) error {
	p.mu.Lock()
	cs := p.cfg.clusters
	p.mu.Unlock()
	for _, name := range sortedKeys(next) {
		for _, c := range next[name].hcm.grpcClusters {
			if _, ok := cs.byName[c]; !ok {
				return fmt.Errorf("listener %q: grpc_service cluster %q is not in CDS", name, c)
			}
		}
	}
	return nil
}

func (p *Proxy) checkRouteClusters(next map[string]*routeConfig) error {
	p.mu.Lock()
	cs := p.cfg.clusters
	p.mu.Unlock()
	for _, name := range sortedKeys(next) {
		for _, vh := range next[name].vhosts {
			for _, r := range vh.routes {
				if _, ok := cs.byName[r.cluster]; !ok {
					return fmt.Errorf("route_configuration %q: route %q: cluster %q is not in CDS", name, r.name, r.cluster)
				}
			}
		}
	}
	return nil
}

// checkPerFilterNames requires every typed_per_filter_config key to name an
// HTTP filter of a listener using the route configuration, with a config
// type matching that filter.
func (p *Proxy) checkPerFilterNames(next map[string]*routeConfig) error {
	p.mu.Lock()
	listeners := p.cfg.listeners
	p.mu.Unlock()
	for _, name := range sortedKeys(next) {
		filters := map[string]filterKind{}
		for _, lc := range listeners {
			if lc.hcm.routeConfigName == name {
				maps.Copy(filters, lc.hcm.filterNames)
			}
		}
		for _, vh := range next[name].vhosts {
			if err := checkPerFilterMap(vh.perFilter, filters, fmt.Sprintf("route_configuration %q virtual_host %q", name, vh.name)); err != nil {
				return err
			}
			for _, r := range vh.routes {
				if err := checkPerFilterMap(r.perFilter, filters, fmt.Sprintf("route_configuration %q route %q", name, r.name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkPerFilterMap(pf map[string]any, filters map[string]filterKind, path string) error {
	for _, key := range sortedKeys(pf) {
		kind, ok := filters[key]
		if !ok {
			return fmt.Errorf("%s: typed_per_filter_config key %q names no configured HTTP filter", path, key)
		}
		switch pf[key].(type) {
		case *extAuthzPerRoute:
			ok = kind == filterExtAuthz
		case *extProcPerRoute:
			ok = kind == filterExtProc
		}
		if !ok {
			return fmt.Errorf("%s: typed_per_filter_config[%s] does not match that filter's type", path, key)
		}
	}
	return nil
}

func (p *Proxy) routeConfigNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := map[string]bool{}
	for _, lc := range p.cfg.listeners {
		set[lc.hcm.routeConfigName] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}
