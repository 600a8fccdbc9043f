package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/actiongate/actiongate/internal/decision"
)

func TestCallHash_CanonicalAndScoped(t *testing.T) {
	t.Parallel()
	base := CallInput{Server: "ehr", Tool: "read_chart", Arguments: json.RawMessage(`{"b":[1.0,2],"a":"<x>"}`),
		User: "dr-alice", Agent: "note-summarizer", Tenant: "clinic-a", Task: "t1"}
	// Computed by hand from RFC 8785: keys sorted, 1.0 → 1, no HTML escaping.
	canon := `{"agent":"note-summarizer","arguments":{"a":"<x>","b":[1,2]},"server":"ehr","task":"t1","tenant":"clinic-a","tool":"read_chart","user":"dr-alice"}`
	sum := sha256.Sum256([]byte(canon))
	want := "sha-256:" + base64.RawURLEncoding.EncodeToString(sum[:])
	got, err := CallHash(base)
	if err != nil || got != want {
		t.Fatalf("CallHash = %s, %v; want %s", got, err, want)
	}
	same := base
	same.Arguments = json.RawMessage(" {\"a\" : \"\\u003cx>\", \"b\":[1, 2e0]} ")
	if h, _ := CallHash(same); h != want {
		t.Error("the same arguments written differently hash differently")
	}
	for name, edit := range map[string]func(*CallInput){
		"user":      func(c *CallInput) { c.User = "dr-bob" },
		"agent":     func(c *CallInput) { c.Agent = "other" },
		"tenant":    func(c *CallInput) { c.Tenant = "clinic-b" },
		"task":      func(c *CallInput) { c.Task = "t2" },
		"server":    func(c *CallInput) { c.Server = "mail" },
		"tool":      func(c *CallInput) { c.Tool = "write_summary" },
		"arguments": func(c *CallInput) { c.Arguments = json.RawMessage(`{"a":"<x>","b":[1,3]}`) },
	} {
		c := base
		edit(&c)
		if h, _ := CallHash(c); h == want {
			t.Errorf("changing %s does not change the call hash", name)
		}
	}
	dup := base
	dup.Arguments = json.RawMessage(`{"a":1,"a":2}`)
	if _, err := CallHash(dup); err == nil {
		t.Error("arguments with a duplicate key hashed")
	}
}

func TestFromDecision_Fields(t *testing.T) {
	t.Parallel()
	d := sampleDecision(1)
	d.Principal.TokenID = "jti-should-not-appear"
	d.Obligations = map[string]any{"limit": 3}
	args := json.RawMessage(`{"patient_id":"p-1"}`)
	at := time.Date(2026, 3, 10, 3, 14, 0, 0, time.FixedZone("CET", 3600))
	inputHash := "sha256:" + strings.Repeat("ab", 32)
	ev, err := FromDecision(d, Extras{Time: at, Arguments: args, RequestID: "7", Latency: 1500 * time.Microsecond,
		InputHash: inputHash})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Arguments != nil {
		t.Error("arguments recorded without RecordArguments")
	}
	if ev.V != 1 || ev.Kind != KindDecision || !ev.Time.Equal(at) || ev.Time.Location() != time.UTC ||
		ev.DecisionID != d.ID || ev.User != "dr-alice" || ev.Agent != "note-summarizer" || ev.Tenant != "clinic-b" ||
		ev.Task != "task-42" || strings.Join(ev.Chain, ",") != "note-summarizer,orchestrator" || ev.Server != "ehr" ||
		ev.Tool != "read_chart" || ev.Method != "tools/call" || ev.RequestID != "7" || ev.RegistryVersion != "reg-7f3a" ||
		ev.PolicyRevision != "pol-91bc" || ev.InputHash != inputHash || ev.Outcome != "allow" || ev.Reason != "allowed" || ev.LatencyMicros != 1500 ||
		!regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7`).MatchString(ev.ID) {
		t.Fatalf("event %+v", ev)
	}
	wantHash, _ := CallHash(CallInput{Server: "ehr", Tool: "read_chart", Arguments: args, User: "dr-alice",
		Agent: "note-summarizer", Tenant: "clinic-b", Task: "task-42"})
	if ev.CallHash != wantHash {
		t.Errorf("call hash %s, want %s", ev.CallHash, wantHash)
	}
	c, err := ev.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"jti-should-not-appear", "limit", "p-1"} {
		if bytes.Contains(c, []byte(secret)) {
			t.Errorf("event carries %q: %s", secret, c)
		}
	}
	rec, err := FromDecision(d, Extras{Arguments: args, RecordArguments: true})
	if err != nil || string(rec.Arguments) != `{"patient_id":"p-1"}` {
		t.Fatalf("recorded arguments %s, %v", rec.Arguments, err)
	}
	if _, err := FromDecision(d, Extras{Arguments: json.RawMessage(`{"a":1,"a":2}`)}); err == nil {
		t.Error("non-I-JSON arguments accepted")
	}
}

func TestEventSchema_ValidatesEvents(t *testing.T) {
	t.Parallel()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("../../docs/audit.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s := openSpool(t, t.TempDir(), SpoolOptions{InstanceID: "gw-s"})
	evs := appendN(t, s, 0, 2)
	withInput := sampleEvent(t, 2)
	withInput.InputHash = "sha256:" + strings.Repeat("0f", 32)
	if err := s.Append(withInput); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, withInput)
	out, err := FromDecision(decision.Decision{ID: "dec-9", Outcome: decision.Deny, Reason: decision.ReasonPolicyDenied,
		Method: "tools/call", Tool: "wipe"}, Extras{Kind: KindOutcome, ErrorType: "tool_error", Arguments: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	out.OutputHash, _ = ContentHash([]byte(`{"content":[]}`))
	if err := s.Append(&out); err != nil {
		t.Fatal(err)
	}
	for _, ev := range append(evs, &out) {
		if err := sch.Validate(instance(t, ev)); err != nil {
			t.Errorf("seq %d: %v", ev.Seq, err)
		}
	}
	bad := map[string]func(m map[string]any){
		"missing id":          func(m map[string]any) { delete(m, "id") },
		"negative seq":        func(m map[string]any) { m["seq"] = -1 },
		"unknown outcome":     func(m map[string]any) { m["outcome"] = "maybe" },
		"unknown field":       func(m map[string]any) { m["token"] = "eyJ..." },
		"malformed hash":      func(m map[string]any) { m["callHash"] = "md5:abc" },
		"malformed time":      func(m map[string]any) { m["time"] = "yesterday" },
		"malformed prevHash":  func(m map[string]any) { m["prevHash"] = "xyz" },
		"malformed inputHash": func(m map[string]any) { m["inputHash"] = "sha-256:" + strings.Repeat("A", 43) },
	}
	for name, edit := range bad {
		m := instance(t, evs[1]).(map[string]any)
		edit(m)
		if err := sch.Validate(m); err == nil {
			t.Errorf("%s: schema accepted it", name)
		}
	}
}

// instance is ev's canonical JSON as a schema instance.
func instance(t *testing.T, ev *Event) any {
	t.Helper()
	c, err := ev.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaFile_ListsEveryField(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/audit.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var sch struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(raw, &sch); err != nil {
		t.Fatal(err)
	}
	full := Event{ID: "x", Chain: []string{"a"}, ContextRefs: []string{"r"}, PolicyReasons: []string{"p"},
		Redactions: []string{"r"}, Arguments: json.RawMessage(`{}`), LatencyMicros: 1}
	for _, f := range []*string{&full.Issuer, &full.User, &full.Agent, &full.Tenant, &full.Task, &full.Server,
		&full.Method, &full.Tool, &full.RequestID, &full.ToolCallID, &full.CallHash, &full.PromptHash, &full.Model,
		&full.RegistryVersion, &full.PolicyRevision, &full.InputHash, &full.Reason, &full.ApprovalRef, &full.ErrorType, &full.OutputHash} {
		*f = "x"
	}
	b, _ := json.Marshal(full)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k := range m {
		if _, ok := sch.Properties[k]; !ok {
			t.Errorf("event field %q is not in docs/audit.schema.json", k)
		}
	}
	if len(sch.Properties) != len(m) {
		t.Errorf("schema has %d properties, the event %d", len(sch.Properties), len(m))
	}
}
