package extproc

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/mcp"
)

// problems records what a phase counted.
type problems struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *problems) count(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n[reason]++
}

func (p *problems) get(reason string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[reason]
}

func testEnv() (*env, *problems) {
	p := &problems{n: map[string]int{}}
	return &env{
		log:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		maxBody:        DefaultMaxBodyBytes,
		maxEvent:       mcp.DefaultMaxSSEEvent,
		problem:        p.count,
		transformJSON:  identityJSON,
		transformEvent: identityEvent,
	}, p
}

// headers builds an Envoy header map the way Envoy sends it: raw_value only.
func headers(eos bool, kv ...string) *extprocv3.HttpHeaders {
	hm := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.HttpHeaders{Headers: hm, EndOfStream: eos}
}

func authzMetadata(decisionID string, rpcID *structpb.Value) *corev3.Metadata {
	fields := map[string]*structpb.Value{decision.MetaDecisionID: structpb.NewStringValue(decisionID)}
	if rpcID != nil {
		fields[decision.MetaRequestID] = rpcID
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{authzNamespace: {Fields: fields}}}
}

// applyChunk is what Envoy does with one STREAMED chunk and our answer.
func applyChunk(t *testing.T, in []byte, resp *extprocv3.ProcessingResponse) []byte {
	t.Helper()
	rb := resp.GetResponseBody()
	if rb == nil {
		t.Fatalf("answer to a response_body chunk is %T", resp.GetResponse())
	}
	switch m := rb.GetResponse().GetBodyMutation().GetMutation().(type) {
	case nil:
		return in
	case *extprocv3.BodyMutation_ClearBody:
		if !m.ClearBody {
			return in
		}
		return nil
	case *extprocv3.BodyMutation_Body:
		return m.Body
	default:
		t.Fatalf("unexpected body mutation %T", m)
	}
	return nil
}

type rpcErrorBody struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int           `json:"code"`
		Message string        `json:"message"`
		Data    mcp.ErrorData `json:"data"`
	} `json:"error"`
}

func decodeRPCError(t *testing.T, b []byte) rpcErrorBody {
	t.Helper()
	var e rpcErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	if e.JSONRPC != "2.0" || e.Error.Code == 0 {
		t.Fatalf("body %q is not a JSON-RPC error", b)
	}
	return e
}

// checkJSONImmediate asserts an immediate response with the given status
// whose content-type is set through raw_value only, and returns its body.
func checkJSONImmediate(t *testing.T, resp *extprocv3.ProcessingResponse, status int) []byte {
	t.Helper()
	ir := resp.GetImmediateResponse()
	if ir == nil {
		t.Fatalf("want an immediate_response, got %T", resp.GetResponse())
	}
	if int(ir.GetStatus().GetCode()) != status {
		t.Fatalf("status %d, want %d", ir.GetStatus().GetCode(), status)
	}
	var ct string
	for _, h := range ir.GetHeaders().GetSetHeaders() {
		if h.GetHeader().GetValue() != "" {
			t.Fatalf("header %q uses value; Envoy reads raw_value only", h.GetHeader().GetKey())
		}
		if h.GetHeader().GetKey() == "content-type" {
			ct = string(h.GetHeader().GetRawValue())
		}
	}
	if ct != "application/json" {
		t.Fatalf("content-type raw_value %q, want application/json", ct)
	}
	return ir.GetBody()
}
