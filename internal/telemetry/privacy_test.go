package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/telemetry/otlptest"
)

func secret(t *testing.T, label string) string {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return label + "-" + hex.EncodeToString(b[:])
}

// Property: for random arguments, results, tokens and free text placed
// everywhere an adapter has them at hand (headers, _meta, the decision's
// detail, policy reasons, obligations, user, task, token id), no exported
// span name, status message or attribute (span or resource) contains any
// of them.
func TestPrivacy_NoArgumentOrTokenIsRecorded(t *testing.T) {
	tr := newTracing(t, Config{})
	const rounds = 25
	var secrets []string
	for i := range rounds {
		arg, result, token, detail := secret(t, "arg"), secret(t, "result"), secret(t, "token"), secret(t, "detail")
		user, task, jti, policy, obl := secret(t, "user"), secret(t, "task"), secret(t, "jti"), secret(t, "preason"), secret(t, "obligation")
		secrets = append(secrets, arg, result, token, detail, user, task, jti, policy, obl)

		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": i, "method": "tools/call",
			"params": map[string]any{"name": "get_quote", "arguments": map[string]any{"symbol": arg}}})
		hdr := map[string]string{"authorization": "Bearer " + token, "x-actiongate-task": task,
			"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-01"}
		ctx := ContextFromHeaders(context.Background(), headers(hdr))
		ctx = ContextFromMeta(ctx, body) // the whole body where _meta is expected: must not leak either
		ctx, sp := StartDecision(ctx, tr.tracer, Call{DecisionID: "d", Server: "quotes"})

		d := allowDecision()
		if i%2 == 1 {
			d.Outcome, d.Reason = decision.Deny, decision.ReasonInvalidArguments
		}
		d.Detail = `/symbol: "` + arg + `" is not one of the allowed values`
		d.PolicyReasons = []string{policy + " " + arg}
		d.Obligations = map[string]any{"note": obl, "args": arg}
		d.Principal.User, d.Principal.Task, d.Principal.TokenID = user, task, jti
		EndDecision(sp, d)

		_, ps := StartProcessing(ContextFromHeaders(context.Background(), headers(map[string]string{"traceparent": Traceparent(ctx)})),
			tr.tracer, Call{DecisionID: "d", Method: "tools/call", Tool: "get_quote"})
		// A caller mistaking the detail message for a reason code.
		EndProcessing(ps, Result{HTTPStatus: 200, ToolError: true, ErrorType: decision.Reason("blocked: " + detail)})
		_ = result // a result exists only as response bytes, which no Result field takes
	}
	tr.flush()
	spans, err := tr.rcv.WaitForSpans(2*rounds, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spans {
		for _, sec := range secrets {
			if where := leak(s, sec); where != "" {
				t.Errorf("span %q leaks %s in %s", s.Name, sec, where)
			}
		}
	}
}

func leak(s otlptest.Span, sec string) string {
	if strings.Contains(s.Name, sec) {
		return "the name"
	}
	if strings.Contains(s.StatusMsg, sec) {
		return "the status"
	}
	for k, v := range s.Attributes {
		if strings.Contains(v, sec) {
			return "attribute " + k
		}
	}
	for k, v := range s.Resource {
		if strings.Contains(v, sec) {
			return "resource attribute " + k
		}
	}
	return ""
}

// The API's shape is the guarantee: Call and Result hold only scalar
// fields, so there is nowhere to put a JSON value, a byte slice, a map
// or an attribute; Span has no method taking a key.
func TestPrivacy_APIHasNoContentChannel(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[Call](), reflect.TypeFor[Result]()} {
		for f := range typ.Fields() {
			switch f.Type.Kind() {
			case reflect.String, reflect.Int, reflect.Bool:
			case reflect.Struct:
				if f.Type != reflect.TypeFor[time.Time]() {
					t.Errorf("%s.%s is a %s", typ.Name(), f.Name, f.Type)
				}
			default:
				t.Errorf("%s.%s is a %s: a channel for content", typ.Name(), f.Name, f.Type)
			}
		}
	}
	sp := reflect.TypeFor[Span]()
	for f := range sp.Fields() {
		if f.IsExported() {
			t.Errorf("Span exposes its field %s", f.Name)
		}
	}
	for m := range reflect.PointerTo(sp).Methods() {
		if m.Name != "Update" {
			t.Errorf("Span has method %s; only Update(Call) is expected", m.Name)
		}
	}
}
