// Package otlptest is a real OTLP/HTTP trace receiver for tests: the "OTel
// backend" of unit and e2e tests. It listens on 127.0.0.1:0, accepts
// POST /v1/traces in protobuf or JSON (optionally gzip), decodes with the
// OTLP collector protos and keeps every span for lookups.
package otlptest

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TracesPath is where OTLP/HTTP exporters POST traces.
const TracesPath = "/v1/traces"

// maxBody bounds one decoded export request.
const maxBody = 64 << 20

// Span is one received span, flattened with its resource and scope.
type Span struct {
	TraceID      string // 32 lower-case hex digits
	SpanID       string // 16 hex digits
	ParentSpanID string // "" for a root span
	TraceState   string
	Name         string
	Kind         tracepb.Span_SpanKind
	Start, End   time.Time
	StatusCode   tracepb.Status_StatusCode
	StatusMsg    string
	// Attributes, Resource: values rendered as strings (ints in decimal,
	// bools as true/false, others as their protojson form).
	Attributes map[string]string
	Resource   map[string]string
	Scope      string
	SchemaURL  string // the scope's, else the resource's
	// Raw is the span as decoded.
	Raw *tracepb.Span
}

// Attr returns the attribute k.
func (s Span) Attr(k string) (string, bool) {
	v, ok := s.Attributes[k]
	return v, ok
}

// Receiver is a running OTLP/HTTP trace receiver.
type Receiver struct {
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	spans    []Span
	requests int
	headers  http.Header   // of the last export request
	changed  chan struct{} // closed and replaced on every change
	// fail, when set, answers every export with this status, storing
	// nothing; stall blocks exports until it is closed.
	fail  int
	stall chan struct{}
}

// Start listens on 127.0.0.1:0 and serves until Close.
func Start() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("otlptest: listen: %w", err)
	}
	r := &Receiver{ln: ln, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TracesPath, r.handleTraces)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// New starts a receiver closed when t ends.
func New(t testing.TB) *Receiver {
	t.Helper()
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Close stops the server, releasing any stalled export.
func (r *Receiver) Close() {
	r.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// Endpoint is the base URL (http://127.0.0.1:port), as an OTLP endpoint
// setting without a signal path.
func (r *Receiver) Endpoint() string { return "http://" + r.ln.Addr().String() }

// URL is the full traces URL.
func (r *Receiver) URL() string { return r.Endpoint() + TracesPath }

// FailWith makes every later export fail with status (0 restores normal
// service): a backend that is down or refusing.
func (r *Receiver) FailWith(status int) {
	r.mu.Lock()
	r.fail = status
	r.mu.Unlock()
}

// Stall makes exports hang until Release: a backend that accepts
// connections and never answers.
func (r *Receiver) Stall() {
	r.mu.Lock()
	if r.stall == nil {
		r.stall = make(chan struct{})
	}
	r.mu.Unlock()
}

// Release ends a Stall.
func (r *Receiver) Release() {
	r.mu.Lock()
	if r.stall != nil {
		close(r.stall)
		r.stall = nil
	}
	r.mu.Unlock()
}

// Requests is how many export requests arrived (stored or not).
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// LastHeaders returns the headers of the last export request (nil before
// the first), e.g. to check an exporter sends its configured headers.
func (r *Receiver) LastHeaders() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers.Clone()
}

// Spans returns a copy of every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitForSpans waits until at least n spans have arrived, or until
// timeout, and returns them all; the error says how many came.
func (r *Receiver) WaitForSpans(n int, timeout time.Duration) ([]Span, error) {
	return r.WaitFor(timeout, func(s []Span) bool { return len(s) >= n }, fmt.Sprintf("%d spans", n))
}

// WaitFor waits until cond holds for the spans received, or timeout.
func (r *Receiver) WaitFor(timeout time.Duration, cond func([]Span) bool, what string) ([]Span, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans, changed := append([]Span(nil), r.spans...), r.changed
		r.mu.Unlock()
		if cond(spans) {
			return spans, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return spans, fmt.Errorf("otlptest: waited %v for %s; have %d spans in %d requests", timeout, what, len(spans), r.Requests())
		}
	}
}

// ByTraceID returns the spans of one trace (hex id), in arrival order.
func (r *Receiver) ByTraceID(traceID string) []Span {
	return r.filter(func(s Span) bool { return s.TraceID == traceID })
}

// WithAttribute returns the spans whose attribute k renders as v.
func (r *Receiver) WithAttribute(k, v string) []Span {
	return r.filter(func(s Span) bool { a, ok := s.Attributes[k]; return ok && a == v })
}

// ByName returns the spans named name.
func (r *Receiver) ByName(name string) []Span {
	return r.filter(func(s Span) bool { return s.Name == name })
}

func (r *Receiver) filter(keep func(Span) bool) []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Span
	for _, s := range r.spans {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	r.headers = req.Header.Clone()
	fail, stall := r.fail, r.stall
	r.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-req.Context().Done():
			return
		}
	}
	if fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return
	}
	isJSON, err := jsonContent(req.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	body, err := readBody(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var export coltracepb.ExportTraceServiceRequest
	if isJSON {
		err = unmarshalJSON(body, &export)
	} else {
		err = proto.Unmarshal(body, &export)
	}
	if err != nil {
		http.Error(w, "decoding ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.store(&export)
	resp := &coltracepb.ExportTraceServiceResponse{}
	var out []byte
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		out, _ = protojson.Marshal(resp)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ = proto.Marshal(resp)
	}
	_, _ = w.Write(out)
}

func jsonContent(ct string) (bool, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("content-type %q: %v", ct, err)
	}
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return false, nil
	case "application/json":
		return true, nil
	}
	return false, fmt.Errorf("content-type %q is neither application/x-protobuf nor application/json", mt)
}

func readBody(req *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(nil, req.Body, maxBody)
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer func() { _ = zr.Close() }()
		rd = io.LimitReader(zr, maxBody+1)
	default:
		return nil, errors.New("unsupported content-encoding")
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, errors.New("body too large")
	}
	return b, nil
}

func (r *Receiver) store(export *coltracepb.ExportTraceServiceRequest) {
	var got []Span
	for _, rs := range export.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			schema := ss.GetSchemaUrl()
			if schema == "" {
				schema = rs.GetSchemaUrl()
			}
			for _, sp := range ss.GetSpans() {
				got = append(got, Span{
					TraceID:      hex.EncodeToString(sp.GetTraceId()),
					SpanID:       hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID: hex.EncodeToString(sp.GetParentSpanId()),
					TraceState:   sp.GetTraceState(),
					Name:         sp.GetName(),
					Kind:         sp.GetKind(),
					Start:        time.Unix(0, int64(sp.GetStartTimeUnixNano())),
					End:          time.Unix(0, int64(sp.GetEndTimeUnixNano())),
					StatusCode:   sp.GetStatus().GetCode(),
					StatusMsg:    sp.GetStatus().GetMessage(),
					Attributes:   attrMap(sp.GetAttributes()),
					Resource:     res,
					Scope:        ss.GetScope().GetName(),
					SchemaURL:    schema,
					Raw:          sp,
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = render(kv.GetValue())
	}
	return m
}

func render(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	b, _ := protojson.Marshal(v)
	return string(b)
}
