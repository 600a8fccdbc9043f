package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestOTLPRecord_GenAIMappingAndRoundTrip(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-o"})
	ev := appendN(t, s, 0, 2)[1]
	canon, err := ev.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	value, err := OTLPRecord(ev, canon)
	if err != nil {
		t.Fatal(err)
	}
	var doc otlpLogs
	if err := json.Unmarshal(value, &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc, otlpDoc(ev, canon)) {
		t.Fatalf("the hand-written OTLP JSON differs from the document:\n%s", value)
	}
	rl := doc.ResourceLogs[0]
	rec := rl.ScopeLogs[0].LogRecords[0]
	if rec.EventName != EventNameDecision || rec.TimeUnixNano != strconv.FormatInt(ev.Time.UnixNano(), 10) ||
		rec.SeverityText != "INFO" || *rec.Body.StringValue != string(canon) || rl.ScopeLogs[0].SchemaURL != SemconvSchemaURL {
		t.Fatalf("log record %+v", rec)
	}
	attrs := map[string]AnyValue{}
	for _, kv := range rec.Attributes {
		attrs[kv.Key] = kv.Value
	}
	wantStr := map[string]string{
		"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "read_chart", "gen_ai.agent.id": "note-summarizer",
		"mcp.method.name": "tools/call", "jsonrpc.request.id": "1", "user.id": "dr-alice",
		"actiongate.event.id": ev.ID, "actiongate.decision.id": "dec-000001", "actiongate.decision.outcome": "allow",
		"actiongate.tenant.id": "clinic-b", "actiongate.task.id": "task-42", "actiongate.server.id": "ehr",
		"actiongate.call.hash": ev.CallHash, "actiongate.prev_hash": ev.PrevHash, "actiongate.instance.id": "gw-o",
		"actiongate.policy.revision": "pol-91bc", "actiongate.registry.version": "reg-7f3a",
	}
	for k, v := range wantStr {
		if a, ok := attrs[k]; !ok || a.StringValue == nil || *a.StringValue != v {
			t.Errorf("attribute %s = %+v, want %q", k, a, v)
		}
	}
	if a := attrs["actiongate.seq"]; a.IntValue == nil || *a.IntValue != "1" {
		t.Errorf("actiongate.seq = %+v", a)
	}
	if a := attrs["actiongate.delegation.chain"]; a.ArrayValue == nil || len(a.ArrayValue.Values) != 2 {
		t.Errorf("delegation chain = %+v", a)
	}
	for _, k := range []string{"error.type", "gen_ai.tool.call.arguments"} {
		if _, ok := attrs[k]; ok {
			t.Errorf("allowed call without recorded arguments has %s", k)
		}
	}

	got, gotCanon, err := ParseOTLPRecord(value)
	if err != nil || got.ID != ev.ID || !bytes.Equal(gotCanon, canon) {
		t.Fatalf("round trip: %v", err)
	}
	edited := bytes.Replace(value, []byte(`"stringValue":"read_chart"`), []byte(`"stringValue":"wipe_chart"`), 1)
	if bytes.Equal(edited, value) {
		t.Fatal("test did not edit the attribute")
	}
	if _, _, err := ParseOTLPRecord(edited); !errors.Is(err, ErrAttributesMismatch) {
		t.Fatalf("edited attribute: %v", err)
	}
}

func TestAttributes_DenialCarriesErrorType(t *testing.T) {
	t.Parallel()
	ev := Event{Outcome: "deny", Reason: string(ReasonAuditUnavailable), Method: "tools/call", Tool: "send_mail"}
	for _, kv := range Attributes(&ev) {
		if kv.Key == "error.type" {
			if *kv.Value.StringValue != "audit_unavailable" {
				t.Fatalf("error.type %q", *kv.Value.StringValue)
			}
			return
		}
	}
	t.Fatal("denial without error.type")
}

func TestOTLPRecord_EscapesLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"quote\" \\ back", "\x00\x1f\n\u2028", "bad \xff", "€😀", "</script>&"} {
		ev := sampleEvent(t, 2)
		ev.InstanceID, ev.User, ev.Chain, ev.Outcome, ev.ErrorType = s, s, []string{s}, "deny", s
		canon, err := ev.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		value, err := OTLPRecord(ev, canon)
		if err != nil {
			t.Fatal(err)
		}
		var doc otlpLogs
		if err := json.Unmarshal(value, &doc); err != nil {
			t.Fatalf("%q: invalid JSON: %v", s, err)
		}
		want, _ := json.Marshal(otlpDoc(ev, canon))
		var wantDoc otlpLogs
		_ = json.Unmarshal(want, &wantDoc)
		if !reflect.DeepEqual(doc, wantDoc) {
			t.Fatalf("%q: record differs from the document", s)
		}
	}
}

func TestOTLPRecord_InputHashAttribute(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-i"})
	ev := sampleEvent(t, 0)
	ev.InputHash = "sha256:" + strings.Repeat("5e", 32)
	if err := s.Append(ev); err != nil {
		t.Fatal(err)
	}
	canon, err := ev.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(canon, []byte(`"inputHash":"`+ev.InputHash+`"`)) {
		t.Fatalf("canonical event lacks inputHash: %s", canon)
	}
	value, err := OTLPRecord(ev, canon)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, kv := range Attributes(ev) {
		if kv.Key == "actiongate.decision.input_hash" {
			found = kv.Value.StringValue != nil && *kv.Value.StringValue == ev.InputHash
		}
	}
	if !found {
		t.Fatal("no actiongate.decision.input_hash attribute")
	}
	if _, _, err := ParseOTLPRecord(value); err != nil {
		t.Fatal(err)
	}
	// A SIEM-side edit of the attribute alone shows.
	edited := bytes.Replace(value, []byte(`{"stringValue":"`+ev.InputHash+`"}`),
		[]byte(`{"stringValue":"sha256:`+strings.Repeat("00", 32)+`"}`), 1)
	if bytes.Equal(edited, value) {
		t.Fatal("test did not edit the attribute")
	}
	if _, _, err := ParseOTLPRecord(edited); !errors.Is(err, ErrAttributesMismatch) {
		t.Fatalf("edited input hash attribute: %v", err)
	}
}
