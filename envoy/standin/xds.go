package standin

import (
	"context"
	"fmt"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	typeCDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeLDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

var shortType = map[string]string{typeCDS: "CDS", typeLDS: "LDS", typeRDS: "RDS"}

// typeState is the per-type protocol state of one ADS stream.
type typeState struct {
	nonce      string
	nodeSent   bool
	subscribed bool
	names      []string // RDS only; CDS and LDS are wildcard
}

// heldUpdate is an LDS or RDS response that names clusters CDS has not
// delivered yet; it is applied (and ACKed) when they arrive, or NACKed at
// its deadline.
type heldUpdate struct {
	resp     *discoveryv3.DiscoveryResponse
	check    func() error
	apply    func() error
	deadline time.Time
}

type adsSession struct {
	p      *Proxy
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	types  map[string]*typeState
	held   map[string]*heldUpdate

	lastNACK   string
	lastNACKAt time.Time
}

// nackRepeatInterval paces identical repeated NACKs (the server re-sending
// a version the stand-in already rejected).
const nackRepeatInterval = 20 * time.Millisecond

// runADS runs one ADS stream until it fails or ctx ends.
func (p *Proxy) runADS(ctx context.Context) error {
	conn, err := grpc.NewClient(p.opts.XDSAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("ads client: %w", err)
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return fmt.Errorf("ads stream: %w", err)
	}
	s := &adsSession{p: p, stream: stream, types: map[string]*typeState{}, held: map[string]*heldUpdate{}}
	for _, t := range []string{typeCDS, typeLDS, typeRDS} {
		s.types[t] = &typeState{}
	}
	if err := s.subscribeInitial(); err != nil {
		return err
	}
	recv := make(chan *discoveryv3.DiscoveryResponse)
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case recv <- resp:
			case <-sctx.Done():
				return
			}
		}
	}()
	return s.loop(sctx, recv, recvErr)
}

func (s *adsSession) loop(ctx context.Context, recv <-chan *discoveryv3.DiscoveryResponse, recvErr <-chan error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.armTimer(timer)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			return err
		case resp := <-recv:
			if err := s.handle(resp); err != nil {
				return err
			}
		case <-timer.C:
			if err := s.expireHeld(); err != nil {
				return err
			}
		}
	}
}

func (s *adsSession) armTimer(t *time.Timer) {
	next := time.Hour
	for _, h := range s.held {
		next = min(next, max(time.Until(h.deadline), 0))
	}
	t.Reset(next)
}

// subscribeInitial follows Envoy's order: CDS first; LDS once clusters are
// known; RDS for the route configurations listeners name. After a
// reconnect the last accepted versions are sent so an unchanged server
// need not resend.
func (s *adsSession) subscribeInitial() error {
	if err := s.send(typeCDS, s.version(typeCDS), "", nil); err != nil {
		return err
	}
	if s.version(typeCDS) != "" {
		if err := s.send(typeLDS, s.version(typeLDS), "", nil); err != nil {
			return err
		}
	}
	return s.updateRDSSubscription()
}

func (s *adsSession) version(typeURL string) string {
	return s.p.Stats().AppliedVersion[shortType[typeURL]]
}

func (s *adsSession) send(typeURL, version, nonce string, detail error) error {
	ts := s.types[typeURL]
	req := &discoveryv3.DiscoveryRequest{
		VersionInfo:   version,
		ResponseNonce: nonce,
		TypeUrl:       typeURL,
		ResourceNames: ts.names,
	}
	if !ts.nodeSent {
		req.Node = &corev3.Node{
			Id: s.p.opts.NodeID, Cluster: s.p.opts.NodeCluster, UserAgentName: "envoy",
			UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: "standin-" + s.p.opts.EnvoyVersion},
		}
		ts.nodeSent = true
	}
	if detail != nil {
		req.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: detail.Error()}
	}
	ts.subscribed = true
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("ads send %s: %w", shortType[typeURL], err)
	}
	return nil
}

func (s *adsSession) ack(resp *discoveryv3.DiscoveryResponse) error {
	short := shortType[resp.GetTypeUrl()]
	s.p.stats.update(func(st *Stats) {
		st.ACKs[short]++
		st.AppliedVersion[short] = resp.GetVersionInfo()
	})
	s.p.log.Info("xDS ACK", "type", short, "version", resp.GetVersionInfo())
	return s.send(resp.GetTypeUrl(), resp.GetVersionInfo(), resp.GetNonce(), nil)
}

// nack keeps the last good config and reports the previous version, as
// Envoy does; the error names the resource and field.
func (s *adsSession) nack(resp *discoveryv3.DiscoveryResponse, cause error) error {
	short := shortType[resp.GetTypeUrl()]
	if short == "" {
		short = resp.GetTypeUrl()
	}
	s.p.stats.update(func(st *Stats) {
		st.NACKs[short]++
		st.LastNACKError = cause.Error()
	})
	// The server usually re-sends a rejected version at once (the NACK
	// loop, go-control-plane#962); log each distinct rejection once.
	key := short + "|" + resp.GetVersionInfo() + "|" + cause.Error()
	if s.lastNACK != key {
		s.lastNACK = key
		s.p.log.Warn("xDS NACK", "type", short, "version", resp.GetVersionInfo(), "err", cause)
	} else if wait := nackRepeatInterval - time.Since(s.lastNACKAt); wait > 0 {
		// Pace an identical repeat so a NACK loop costs little CPU on a
		// shared test machine; it still shows as a steadily growing count.
		time.Sleep(wait)
	}
	s.lastNACKAt = time.Now()
	if _, known := s.types[resp.GetTypeUrl()]; !known {
		s.types[resp.GetTypeUrl()] = &typeState{}
	}
	return s.send(resp.GetTypeUrl(), s.version(resp.GetTypeUrl()), resp.GetNonce(), cause)
}

func (s *adsSession) handle(resp *discoveryv3.DiscoveryResponse) error {
	s.types[resp.GetTypeUrl()].nonceSet(resp.GetNonce())
	switch resp.GetTypeUrl() {
	case typeCDS:
		return s.handleCDS(resp)
	case typeLDS:
		return s.handleLDS(resp)
	case typeRDS:
		return s.handleRDS(resp)
	}
	return s.nack(resp, fmt.Errorf("type %s was not subscribed and is not implemented", resp.GetTypeUrl()))
}

func (ts *typeState) nonceSet(n string) {
	if ts != nil {
		ts.nonce = n
	}
}

func (s *adsSession) handleCDS(resp *discoveryv3.DiscoveryResponse) error {
	cs, err := s.p.parseClusters(resp)
	if err != nil {
		if err := s.nack(resp, err); err != nil {
			return err
		}
	} else {
		s.p.applyClusters(cs)
		if err := s.ack(resp); err != nil {
			return err
		}
	}
	if !s.types[typeLDS].subscribed {
		if err := s.send(typeLDS, s.version(typeLDS), "", nil); err != nil {
			return err
		}
	}
	return s.retryHeld()
}

func (p *Proxy) parseClusters(resp *discoveryv3.DiscoveryResponse) (*clusterSet, error) {
	msgs, err := p.decodeResources(resp, "cluster", func() named { return &clusterv3.Cluster{} })
	if err != nil {
		return nil, err
	}
	cs := &clusterSet{byName: map[string]*cluster{}}
	for _, m := range msgs {
		c, err := parseCluster(m.(*clusterv3.Cluster))
		if err != nil {
			return nil, err
		}
		cs.byName[c.name] = c
	}
	return cs, nil
}

func (s *adsSession) handleLDS(resp *discoveryv3.DiscoveryResponse) error {
	msgs, err := s.p.decodeResources(resp, "listener", func() named { return &listenerv3.Listener{} })
	next := map[string]*listenerConfig{}
	for _, m := range msgs {
		if err != nil {
			break
		}
		var lc *listenerConfig
		lc, err = s.p.parseListener(m.(*listenerv3.Listener))
		if lc != nil {
			next[lc.name] = lc
		}
	}
	if err != nil {
		delete(s.held, typeLDS)
		return s.nack(resp, err)
	}
	check := func() error { return s.p.checkGRPCClusters(next) }
	apply := func() error {
		if err := s.p.applyListeners(next); err != nil {
			return err
		}
		return s.updateRDSSubscription()
	}
	return s.applyOrHold(resp, check, apply)
}

func (s *adsSession) handleRDS(resp *discoveryv3.DiscoveryResponse) error {
	msgs, err := s.p.decodeResources(resp, "route_configuration", func() named { return &routev3.RouteConfiguration{} })
	next := map[string]*routeConfig{}
	for _, m := range msgs {
		if err != nil {
			break
		}
		if !slices.Contains(s.types[typeRDS].names, m.GetName()) {
			continue // not requested: Envoy ignores it too
		}
		var rc *routeConfig
		rc, err = s.p.parseRouteConfig(m.(*routev3.RouteConfiguration))
		if rc != nil {
			next[rc.name] = rc
		}
	}
	if err == nil {
		err = s.p.checkPerFilterNames(next)
	}
	if err != nil {
		delete(s.held, typeRDS)
		return s.nack(resp, err)
	}
	check := func() error { return s.p.checkRouteClusters(next) }
	apply := func() error { s.p.applyRoutes(next); return nil }
	return s.applyOrHold(resp, check, apply)
}

func (s *adsSession) applyOrHold(resp *discoveryv3.DiscoveryResponse, check, apply func() error) error {
	delete(s.held, resp.GetTypeUrl()) // a newer response supersedes a held one
	if err := check(); err != nil {
		s.p.log.Info("xDS update waits for CDS", "type", shortType[resp.GetTypeUrl()], "reason", err)
		s.held[resp.GetTypeUrl()] = &heldUpdate{resp: resp, check: check, apply: apply, deadline: time.Now().Add(s.p.opts.CrossRefGrace)}
		return nil
	}
	if err := apply(); err != nil {
		return s.nack(resp, err)
	}
	return s.ack(resp)
}

func (s *adsSession) retryHeld() error {
	for _, t := range []string{typeLDS, typeRDS} {
		h := s.held[t]
		if h == nil || h.check() != nil {
			continue
		}
		delete(s.held, t)
		if err := s.applyOrHold(h.resp, h.check, h.apply); err != nil {
			return err
		}
	}
	return nil
}

func (s *adsSession) expireHeld() error {
	for t, h := range s.held {
		if time.Now().Before(h.deadline) {
			continue
		}
		delete(s.held, t)
		if err := h.check(); err != nil {
			if err := s.nack(h.resp, err); err != nil {
				return err
			}
			continue
		}
		if err := s.applyOrHold(h.resp, h.check, h.apply); err != nil {
			return err
		}
	}
	return nil
}

// updateRDSSubscription asks for exactly the route configurations the
// accepted listeners name.
func (s *adsSession) updateRDSSubscription() error {
	names := s.p.routeConfigNames()
	ts := s.types[typeRDS]
	if slices.Equal(names, ts.names) && (ts.subscribed || len(names) == 0) {
		return nil
	}
	ts.names = names
	s.p.dropUnsubscribedRoutes(names)
	return s.send(typeRDS, s.version(typeRDS), ts.nonce, nil)
}
