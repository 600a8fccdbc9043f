// Package audit records every decision and outcome of the gateway as a
// tamper-evident, durable event stream: events are hash-chained leaves of a
// per-instance RFC 6962 Merkle log, written to a local spool (fsync, group
// commit) before the decision is returned, shipped to Kafka as OTLP-JSON log
// records, and covered by signed checkpoints that `actiongate audit verify`
// checks offline.
package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/actiongate/actiongate/internal/decision"
)

// SchemaVersion is the version of the Event layout (docs/audit.schema.json).
const SchemaVersion = 1

// Kind says which point of a call an event records.
type Kind string

// Kinds. A decision event is written by ext_authz before the decision is
// returned; an outcome event by ext_proc when the upstream answered.
const (
	KindDecision Kind = "decision"
	KindOutcome  Kind = "outcome"
)

// Event is one audit record. Its canonical JSON (RFC 8785) is the Merkle leaf
// and the body of the OTLP log record; nothing in it is a credential.
//
// Seq is the event's leaf index in its instance's log (0-based, gap-free);
// PrevHash is the RFC 6962 leaf hash of event Seq-1 (empty for Seq 0). The
// spool assigns InstanceID, Seq and PrevHash.
type Event struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Kind       Kind      `json:"kind"`
	Time       time.Time `json:"time"`
	InstanceID string    `json:"instanceId"`
	Seq        uint64    `json:"seq"`
	PrevHash   string    `json:"prevHash"`

	DecisionID string   `json:"decisionId"`
	Issuer     string   `json:"issuer,omitempty"`
	User       string   `json:"user,omitempty"`
	Agent      string   `json:"agent,omitempty"`
	Tenant     string   `json:"tenant,omitempty"`
	Task       string   `json:"task,omitempty"`
	Chain      []string `json:"chain,omitempty"`

	Server     string `json:"server,omitempty"`
	Method     string `json:"method,omitempty"`
	Tool       string `json:"tool,omitempty"`
	RequestID  string `json:"jsonrpcId,omitempty"`
	ToolCallID string `json:"toolCallId,omitempty"`

	CallHash string `json:"callHash,omitempty"`
	// Arguments are recorded only when policy asks for it; by default the
	// call hash (which covers them) is all an auditor gets.
	Arguments   json.RawMessage `json:"arguments,omitempty"`
	PromptHash  string          `json:"promptHash,omitempty"`
	ContextRefs []string        `json:"contextRefs,omitempty"`
	Model       string          `json:"model,omitempty"`

	RegistryVersion string `json:"registryVersion,omitempty"`
	PolicyRevision  string `json:"policyRevision,omitempty"`
	// InputHash is the content-store address ("sha256:<hex>" of the RFC 8785
	// form) of the policy input document the decision evaluated; empty when
	// the decision ended before the policy step. The document itself holds
	// the tool arguments and stays in the store (internal/contentstore).
	InputHash     string   `json:"inputHash,omitempty"`
	Outcome       string   `json:"outcome"`
	Reason        string   `json:"reason,omitempty"`
	PolicyReasons []string `json:"policyReasons,omitempty"`
	ApprovalRef   string   `json:"approvalRef,omitempty"`
	Redactions    []string `json:"redactions,omitempty"`

	LatencyMicros int64  `json:"latencyUs,omitempty"`
	ErrorType     string `json:"errorType,omitempty"`
	OutputHash    string `json:"outputHash,omitempty"`
}

// Extras are the parts of an event the decision record does not carry.
type Extras struct {
	Kind Kind      // KindDecision if empty
	Time time.Time // now if zero
	// Arguments of a tools/call, exactly as parsed (I-JSON). They enter the
	// call hash; they are stored only when RecordArguments is set.
	Arguments       json.RawMessage
	RecordArguments bool
	RequestID       string // JSON-RPC id, string form
	ToolCallID      string // the model's tool-call id, when the client sends one
	PromptHash      string
	ContextRefs     []string
	Model           string
	ApprovalRef     string
	Redactions      []string
	Latency         time.Duration
	ErrorType       string
	OutputHash      string
	// InputHash is contentstore's address of the policy input, when the
	// decision reached the policy step.
	InputHash string
}

// FromDecision builds the event for d. It fails only when the arguments are
// not canonicalizable JSON, which the caller must treat as a denial.
func FromDecision(d decision.Decision, x Extras) (Event, error) {
	p := d.Principal
	ev := Event{
		V: SchemaVersion, ID: NewEventID(), Kind: x.Kind, Time: x.Time.UTC(),
		DecisionID: d.ID, Issuer: p.Issuer, User: p.User, Agent: p.Agent, Tenant: p.Tenant, Task: p.Task,
		Server: d.Server, Method: d.Method, Tool: d.Tool, RequestID: x.RequestID, ToolCallID: x.ToolCallID,
		PromptHash: x.PromptHash, ContextRefs: x.ContextRefs, Model: x.Model,
		RegistryVersion: d.RegistryVersion, PolicyRevision: d.PolicyRevision, InputHash: x.InputHash,
		Outcome: string(d.Outcome), Reason: string(d.Reason), PolicyReasons: d.PolicyReasons,
		ApprovalRef: x.ApprovalRef, Redactions: x.Redactions,
		LatencyMicros: x.Latency.Microseconds(), ErrorType: x.ErrorType, OutputHash: x.OutputHash,
	}
	if ev.Kind == "" {
		ev.Kind = KindDecision
	}
	if x.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	for _, a := range p.Chain {
		ev.Chain = append(ev.Chain, a.Subject)
	}
	if d.Method == "tools/call" || d.Tool != "" {
		h, err := CallHash(CallInput{Server: d.Server, Tool: d.Tool, Arguments: x.Arguments,
			User: p.User, Agent: p.Agent, Tenant: p.Tenant, Task: p.Task})
		if err != nil {
			return Event{}, err
		}
		ev.CallHash = h
	}
	if x.RecordArguments && len(x.Arguments) > 0 {
		c, err := jcs.Transform(x.Arguments)
		if err != nil {
			return Event{}, fmt.Errorf("audit: arguments are not canonical JSON: %w", err)
		}
		ev.Arguments = c
	}
	return ev, nil
}

// CallInput is what the call hash covers: the call itself and who made it,
// not the JSON-RPC id or _meta, which legitimately change on a retry.
type CallInput struct {
	Server    string          `json:"server"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments"`
	User      string          `json:"user"`
	Agent     string          `json:"agent"`
	Tenant    string          `json:"tenant"`
	Task      string          `json:"task"`
}

// CallHash is "sha-256:" + base64url(SHA-256(JCS(c))), unpadded. Absent
// arguments hash as JSON null.
func CallHash(c CallInput) (string, error) {
	if len(c.Arguments) == 0 {
		c.Arguments = json.RawMessage("null")
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("audit: call hash: arguments are not JSON: %w", err)
	}
	return ContentHash(raw)
}

// NewEventID returns a UUIDv7 (RFC 9562): time-ordered, 74 random bits.
func NewEventID() string {
	// NewV7 fails only if crypto/rand does, which Go ≥ 1.24 never lets happen.
	return uuid.Must(uuid.NewV7()).String()
}

// ParseEvent decodes logged event bytes. It returns the canonical form too,
// since that (not the input's whitespace) is what the log hashed.
func ParseEvent(raw []byte) (Event, []byte, error) {
	canon, err := jcs.Transform(raw)
	if err != nil {
		return Event{}, nil, fmt.Errorf("event is not I-JSON: %w", err)
	}
	var ev Event
	if err := json.Unmarshal(canon, &ev); err != nil {
		return Event{}, nil, fmt.Errorf("event does not decode: %w", err)
	}
	if ev.ID == "" || ev.InstanceID == "" {
		return Event{}, nil, errors.New("event lacks id or instanceId")
	}
	return ev, canon, nil
}

// ReasonAuditUnavailable is the reason of a mutating call denied because its
// audit event could not be made durable (ErrSpoolFull or a failed spool).
const ReasonAuditUnavailable = decision.ReasonAuditUnavailable

// ContentHash is "sha-256:" + base64url(SHA-256(JCS(raw))): the form of
// Event.OutputHash for a JSON tool result.
func ContentHash(raw []byte) (string, error) {
	canon, err := jcs.Transform(raw)
	if err != nil {
		return "", fmt.Errorf("audit: content hash: not I-JSON: %w", err)
	}
	sum := sha256.Sum256(canon)
	return "sha-256:" + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
