package standin

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

var errMessageTimeout = errors.New("ext_proc message timeout")

// sideStream is the one gRPC Process stream an ext_proc filter opens per
// HTTP stream, lazily at its first message.
type sideStream struct {
	f      *extProcFilter
	cancel context.CancelFunc
	client extprocsvc.ExternalProcessor_ProcessClient
	recv   chan recvItem

	sendMu    sync.Mutex
	sentFirst bool
	// awaitMu serialises consumers so answers are matched in order.
	awaitMu sync.Mutex
	// awaiting counts consumers waiting for an answer.
	awaiting atomic.Int32
}

type recvItem struct {
	resp *extprocsvc.ProcessingResponse
	err  error // io.EOF: the server closed the stream cleanly
}

func (f *extProcFilter) openSide(ctx context.Context) (*sideStream, error) {
	if f.side != nil {
		return f.side, nil
	}
	conn, err := f.s.p.upstreams.grpcConn(f.s.al.clusters, f.cfg.cluster)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	client, err := extprocsvc.NewExternalProcessorClient(conn).Process(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	f.s.p.stats.update(func(st *Stats) { st.ExtProcStreams++ })
	ss := &sideStream{f: f, cancel: cancel, client: client, recv: make(chan recvItem, 16)}
	go ss.receive(sctx)
	f.side = ss
	return ss, nil
}

func (ss *sideStream) receive(ctx context.Context) {
	for {
		resp, err := ss.client.Recv()
		if err != nil && !isCleanClose(err) && ctx.Err() == nil && ss.awaiting.Load() == 0 && !ss.f.complete.Load() {
			// Envoy's onGrpcError runs whenever the stream fails, not only
			// while a message is outstanding: with failure_mode_allow off it
			// ends the HTTP stream (a reset once the response has started).
			ss.f.s.p.log.Debug("ext_proc stream failed while idle; resetting the HTTP stream", "stream", ss.f.s.id, "err", err)
			if !ss.f.cfg.failureModeAllow && ss.f.s.abort != nil {
				ss.f.finish()
				ss.f.s.abort(errExtProcIdleFailure)
				return
			}
		}
		select {
		case ss.recv <- recvItem{resp: resp, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// send adds what Envoy adds to every message: protocol_config on the first
// message of the stream (1.34+) and the forwarded metadata namespaces.
// A failed send surfaces as the receive side's error or clean close.
func (ss *sideStream) send(req *extprocsvc.ProcessingRequest) {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	f := ss.f
	if !ss.sentFirst && f.s.p.atLeast(34) {
		req.ProtocolConfig = &extprocsvc.ProtocolConfiguration{
			RequestBodyMode:  f.mode.reqBody,
			ResponseBodyMode: f.mode.respBody,
		}
	}
	ss.sentFirst = true
	req.MetadataContext = f.forwardedMetadata()
	_ = ss.client.Send(req)
}

// await waits for the next answer. The message timer runs from sentAt; a
// response carrying only override_message_timeout restarts it once with
// the new value (1 ms to max_message_timeout), as Envoy allows.
func (ss *sideStream) await(ctx context.Context, sentAt time.Time) (*extprocsvc.ProcessingResponse, error) {
	ss.awaiting.Add(1)
	defer ss.awaiting.Add(-1)
	cfg := ss.f.cfg
	timer := time.NewTimer(max(time.Until(sentAt.Add(cfg.messageTimeout)), 0))
	defer timer.Stop()
	overridden := false
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, errMessageTimeout
		case it := <-ss.recv:
			if it.err != nil {
				return nil, it.err
			}
			if ot := it.resp.GetOverrideMessageTimeout(); ot != nil {
				d := ot.AsDuration()
				if !overridden && cfg.maxMessageTimeout > 0 && d >= time.Millisecond && d <= cfg.maxMessageTimeout {
					overridden = true
					timer.Reset(d)
				}
				continue
			}
			return it.resp, nil
		}
	}
}

func (ss *sideStream) close() {
	ss.sendMu.Lock()
	_ = ss.client.CloseSend()
	ss.sendMu.Unlock()
	ss.cancel()
}

func isCleanClose(err error) bool { return errors.Is(err, io.EOF) }

// errExtProcIdleFailure is the reset cause when the processor's stream
// fails between messages.
var errExtProcIdleFailure = errors.New("ext_proc stream failed")

func (f *extProcFilter) forwardedMetadata() *corev3.Metadata {
	md := &corev3.Metadata{}
	for _, ns := range f.cfg.forwardNS {
		if v, ok := f.s.metadata(ns); ok {
			if md.FilterMetadata == nil {
				md.FilterMetadata = map[string]*structpb.Struct{}
			}
			md.FilterMetadata[ns] = v
		}
	}
	return md
}
