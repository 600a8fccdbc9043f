package otlptest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// OTLP/JSON as the spec writes it: hex ids, enums as numbers, int64 as
// strings.
const jsonExport = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"agent"}}]},
 "scopeSpans":[{"scope":{"name":"s"},"schemaUrl":"https://opentelemetry.io/schemas/1.40.0","spans":[
  {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173",
   "name":"tools/call get_quote","kind":3,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
   "attributes":[{"key":"mcp.method.name","value":{"stringValue":"tools/call"}},{"key":"n","value":{"intValue":"42"}},
                 {"key":"ok","value":{"boolValue":true}}],
   "status":{"code":2,"message":"tool_error"}}]}]}]}`

func TestReceiver_JSON(t *testing.T) {
	r := New(t)
	resp, err := http.Post(r.URL(), "application/json", bytes.NewReader([]byte(jsonExport)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	spans, err := r.WaitForSpans(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := spans[0]
	if s.TraceID != "5b8efff798038103d269b633813fc60c" || s.SpanID != "eee19b7ec3c1b174" || s.ParentSpanID != "eee19b7ec3c1b173" {
		t.Errorf("ids %s %s %s", s.TraceID, s.SpanID, s.ParentSpanID)
	}
	if s.Kind != tracepb.Span_SPAN_KIND_CLIENT || s.StatusCode != tracepb.Status_STATUS_CODE_ERROR || s.StatusMsg != "tool_error" {
		t.Errorf("kind %v status %v %q", s.Kind, s.StatusCode, s.StatusMsg)
	}
	if s.Attributes["n"] != "42" || s.Attributes["ok"] != "true" || s.Resource["service.name"] != "agent" || s.Scope != "s" {
		t.Errorf("attributes %v resource %v", s.Attributes, s.Resource)
	}
	if s.End.Sub(s.Start) != time.Second {
		t.Errorf("duration %v", s.End.Sub(s.Start))
	}
	if len(r.ByTraceID(s.TraceID)) != 1 || len(r.WithAttribute("mcp.method.name", "tools/call")) != 1 || len(r.ByName("tools/call get_quote")) != 1 {
		t.Error("lookups do not find the span")
	}
	if len(r.WithAttribute("mcp.method.name", "tools/list")) != 0 {
		t.Error("attribute lookup matches a different value")
	}
}

func TestReceiver_Rejects(t *testing.T) {
	r := New(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(jsonExport))
	_ = zw.Close()
	cases := []struct {
		name, ct, ce string
		body         []byte
		want         int
	}{
		{"gzip json", "application/json", "gzip", gz.Bytes(), 200},
		{"bad id", "application/json", "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`), 400},
		{"not protobuf", "application/x-protobuf", "", []byte("\xff\xff\xff"), 400},
		{"text", "text/plain", "", []byte("hi"), 415},
		{"brotli", "application/json", "br", []byte("{}"), 400},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("POST", r.URL(), bytes.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		if tc.ce != "" {
			req.Header.Set("Content-Encoding", tc.ce)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if n := len(r.Spans()); n != 1 {
		t.Errorf("%d spans stored, want only the gzip one", n)
	}
	if _, err := r.WaitForSpans(2, 50*time.Millisecond); err == nil {
		t.Error("WaitForSpans(2) returned without a second span")
	}
	r.FailWith(http.StatusServiceUnavailable)
	resp, err := http.Post(r.URL(), "application/json", bytes.NewReader([]byte(jsonExport)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 503 || len(r.Spans()) != 1 || r.Requests() != len(cases)+1 {
		t.Errorf("FailWith: status %d, %d spans, %d requests", resp.StatusCode, len(r.Spans()), r.Requests())
	}
}
