package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
)

// The Kafka record value is one OTLP/JSON ExportLogsServiceRequest holding
// one LogRecord, so any OTLP-speaking SIEM pipeline ingests it as is. The
// record's body is the event's canonical JSON, the exact bytes the Merkle log
// hashed; the attributes are the same event in OpenTelemetry GenAI/MCP
// semantic conventions plus actiongate.* (docs/audit.md has the table).

// SemconvSchemaURL pins the semantic-conventions version the attributes follow.
const SemconvSchemaURL = "https://opentelemetry.io/schemas/1.40.0"

// ScopeName is the instrumentation scope of audit log records.
const ScopeName = "github.com/actiongate/actiongate/internal/audit"

// Event names (OTLP LogRecord.eventName), one per Kind.
const (
	EventNameDecision = "actiongate.audit.decision"
	EventNameOutcome  = "actiongate.audit.outcome"
)

type otlpLogs struct {
	ResourceLogs []otlpResourceLogs `json:"resourceLogs"`
}

type otlpResourceLogs struct {
	Resource  otlpResource    `json:"resource"`
	ScopeLogs []otlpScopeLogs `json:"scopeLogs"`
	SchemaURL string          `json:"schemaUrl,omitempty"`
}

type otlpResource struct {
	Attributes []KeyValue `json:"attributes"`
}

type otlpScopeLogs struct {
	Scope      otlpScope       `json:"scope"`
	LogRecords []otlpLogRecord `json:"logRecords"`
	SchemaURL  string          `json:"schemaUrl,omitempty"`
}

type otlpScope struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type otlpLogRecord struct {
	TimeUnixNano         string     `json:"timeUnixNano"`
	ObservedTimeUnixNano string     `json:"observedTimeUnixNano"`
	SeverityNumber       int        `json:"severityNumber"`
	SeverityText         string     `json:"severityText"`
	EventName            string     `json:"eventName"`
	Body                 AnyValue   `json:"body"`
	Attributes           []KeyValue `json:"attributes"`
}

// KeyValue is an OTLP attribute.
type KeyValue struct {
	Key   string   `json:"key"`
	Value AnyValue `json:"value"`
}

// AnyValue is the subset of OTLP AnyValue audit records use. int64 travels
// as a decimal string, as the OTLP/JSON (proto3 JSON) mapping prescribes.
type AnyValue struct {
	StringValue *string     `json:"stringValue,omitempty"`
	IntValue    *string     `json:"intValue,omitempty"`
	ArrayValue  *ArrayValue `json:"arrayValue,omitempty"`
}

// ArrayValue is an OTLP array of values.
type ArrayValue struct {
	Values []AnyValue `json:"values"`
}

func str(s string) AnyValue { return AnyValue{StringValue: &s} }

func num[T int64 | uint64](n T) AnyValue {
	s := fmt.Sprint(n)
	return AnyValue{IntValue: &s}
}

func strs(ss []string) AnyValue {
	vs := make([]AnyValue, len(ss))
	for i, s := range ss {
		vs[i] = str(s)
	}
	return AnyValue{ArrayValue: &ArrayValue{Values: vs}}
}

// OTLPRecord encodes ev (with its canonical bytes) as the Kafka value. It
// writes the JSON directly; otlpDoc is the same document as Go values, which
// the tests hold it to.
func OTLPRecord(ev *Event, canonical []byte) ([]byte, error) {
	ts := strconv.FormatInt(ev.Time.UnixNano(), 10)
	sevNum, sevText := severity(ev)
	b := make([]byte, 0, 2*len(canonical)+1024)
	b = append(b, `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"actiongate"}},`...)
	b = append(b, `{"key":"service.instance.id","value":{"stringValue":`...)
	b = appendJCSString(b, ev.InstanceID)
	b = append(b, `}}]},"scopeLogs":[{"scope":{"name":"`+ScopeName+`","version":"`+strconv.Itoa(SchemaVersion)+`"},`...)
	b = append(b, `"logRecords":[{"timeUnixNano":"`...)
	b = append(b, ts...)
	b = append(b, `","observedTimeUnixNano":"`...)
	b = append(b, ts...)
	b = append(b, `","severityNumber":`...)
	b = strconv.AppendInt(b, int64(sevNum), 10)
	b = append(b, `,"severityText":"`+sevText+`","eventName":"`+eventName(ev.Kind)+`","body":{"stringValue":`...)
	b = appendJCSString(b, string(canonical))
	b = append(b, `},"attributes":[`...)
	for i, kv := range Attributes(ev) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendJCSString(b, kv.Key)
		b = append(b, `,"value":`...)
		b = appendAnyValue(b, kv.Value)
		b = append(b, '}')
	}
	b = append(b, `]}],"schemaUrl":"`+SemconvSchemaURL+`"}]}]}`...)
	return b, nil
}

func appendAnyValue(b []byte, v AnyValue) []byte {
	switch {
	case v.StringValue != nil:
		b = append(b, `{"stringValue":`...)
		b = appendJCSString(b, *v.StringValue)
	case v.IntValue != nil:
		b = append(b, `{"intValue":`...)
		b = appendJCSString(b, *v.IntValue)
	default:
		b = append(b, `{"arrayValue":{"values":[`...)
		for i, e := range v.ArrayValue.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAnyValue(b, e)
		}
		b = append(b, "]}"...)
	}
	return append(b, '}')
}

func severity(ev *Event) (int, string) {
	if ev.Outcome != "allow" || ev.ErrorType != "" {
		return 13, "WARN"
	}
	return 9, "INFO"
}

// otlpDoc is the document OTLPRecord writes.
func otlpDoc(ev *Event, canonical []byte) otlpLogs {
	ts := strconv.FormatInt(ev.Time.UnixNano(), 10)
	sevNum, sevText := severity(ev)
	rec := otlpLogRecord{
		TimeUnixNano: ts, ObservedTimeUnixNano: ts, SeverityNumber: sevNum, SeverityText: sevText,
		EventName: eventName(ev.Kind), Body: str(string(canonical)), Attributes: Attributes(ev),
	}
	return otlpLogs{ResourceLogs: []otlpResourceLogs{{
		Resource: otlpResource{Attributes: []KeyValue{
			{"service.name", str("actiongate")},
			{"service.instance.id", str(ev.InstanceID)},
		}},
		ScopeLogs: []otlpScopeLogs{{
			Scope: otlpScope{Name: ScopeName, Version: strconv.Itoa(SchemaVersion)}, LogRecords: []otlpLogRecord{rec},
			SchemaURL: SemconvSchemaURL,
		}},
	}}}
}

func eventName(k Kind) string {
	if k == KindOutcome {
		return EventNameOutcome
	}
	return EventNameDecision
}

// Attributes maps an event onto semantic-convention attributes. Empty
// fields are left out; arguments appear only when the event recorded them.
func Attributes(ev *Event) []KeyValue {
	kv := make([]KeyValue, 0, 32)
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, KeyValue{k, str(v)})
		}
	}
	addList := func(k string, v []string) {
		if len(v) > 0 {
			kv = append(kv, KeyValue{k, strs(v)})
		}
	}
	if ev.Method == "tools/call" {
		add("gen_ai.operation.name", "execute_tool")
	}
	add("gen_ai.tool.name", ev.Tool)
	add("gen_ai.tool.call.id", ev.ToolCallID)
	add("gen_ai.agent.id", ev.Agent)
	add("mcp.method.name", ev.Method)
	add("jsonrpc.request.id", ev.RequestID)
	add("user.id", ev.User)
	add("error.type", errorType(ev))
	if len(ev.Arguments) > 0 {
		add("gen_ai.tool.call.arguments", string(ev.Arguments))
	}
	add("actiongate.event.id", ev.ID)
	add("actiongate.event.kind", string(ev.Kind))
	add("actiongate.instance.id", ev.InstanceID)
	kv = append(kv, KeyValue{"actiongate.seq", num(ev.Seq)})
	add("actiongate.prev_hash", ev.PrevHash)
	add("actiongate.decision.id", ev.DecisionID)
	add("actiongate.decision.outcome", ev.Outcome)
	add("actiongate.decision.reason", ev.Reason)
	addList("actiongate.policy.reasons", ev.PolicyReasons)
	add("actiongate.policy.revision", ev.PolicyRevision)
	add("actiongate.registry.version", ev.RegistryVersion)
	add("actiongate.decision.input_hash", ev.InputHash)
	add("actiongate.user.issuer", ev.Issuer)
	add("actiongate.tenant.id", ev.Tenant)
	add("actiongate.task.id", ev.Task)
	addList("actiongate.delegation.chain", ev.Chain)
	add("actiongate.server.id", ev.Server)
	add("actiongate.call.hash", ev.CallHash)
	add("actiongate.prompt.hash", ev.PromptHash)
	addList("actiongate.context.refs", ev.ContextRefs)
	add("actiongate.model", ev.Model)
	add("actiongate.approval.ref", ev.ApprovalRef)
	addList("actiongate.redactions", ev.Redactions)
	add("actiongate.output.hash", ev.OutputHash)
	if ev.LatencyMicros != 0 {
		kv = append(kv, KeyValue{"actiongate.latency_us", num(ev.LatencyMicros)})
	}
	return kv
}

// errorType follows the MCP convention: the event's own error type, else
// the reason of a refusal (policy_denied, audit_unavailable, …).
func errorType(ev *Event) string {
	if ev.ErrorType != "" {
		return ev.ErrorType
	}
	if ev.Outcome != "allow" {
		return ev.Reason
	}
	return ""
}

// ParseOTLPRecord extracts the event bytes (the body) from a Kafka value
// and checks that the attributes SIEMs index say what the hashed body says:
// an edit to either shows.
func ParseOTLPRecord(value []byte) (Event, []byte, error) {
	var doc otlpLogs
	if err := json.Unmarshal(value, &doc); err != nil {
		return Event{}, nil, fmt.Errorf("not an OTLP/JSON log record: %w", err)
	}
	if len(doc.ResourceLogs) != 1 || len(doc.ResourceLogs[0].ScopeLogs) != 1 ||
		len(doc.ResourceLogs[0].ScopeLogs[0].LogRecords) != 1 {
		return Event{}, nil, errors.New("OTLP value must hold exactly one log record")
	}
	rec := doc.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	if rec.Body.StringValue == nil {
		return Event{}, nil, errors.New("OTLP log record has no string body")
	}
	ev, canon, err := ParseEvent([]byte(*rec.Body.StringValue))
	if err != nil {
		return Event{}, nil, err
	}
	if err := attributesMatch(&ev, rec); err != nil {
		return ev, canon, err
	}
	return ev, canon, nil
}

// ErrAttributesMismatch reports OTLP attributes that differ from the body.
var ErrAttributesMismatch = errors.New("OTLP attributes differ from the logged event")

func attributesMatch(ev *Event, rec otlpLogRecord) error {
	want := Attributes(ev)
	if !reflect.DeepEqual(want, rec.Attributes) {
		return fmt.Errorf("%w (seq %d)", ErrAttributesMismatch, ev.Seq)
	}
	if rec.EventName != eventName(ev.Kind) || rec.TimeUnixNano != strconv.FormatInt(ev.Time.UnixNano(), 10) {
		return fmt.Errorf("%w (seq %d): event name or time", ErrAttributesMismatch, ev.Seq)
	}
	return nil
}
