// Package outguard is what ext_proc applies to every MCP message coming back
// from a tool server before the agent reads it: redaction of secrets, PII
// and brokered credentials (internal/redact) first, then prompt-injection
// interception (internal/inject) on what remains, under one output policy
// chosen by the server's data classification. It is pure: bytes in, bytes
// and findings out, so JSON bodies and SSE events (one message per event)
// take the same path and a stream split at any byte gives the same result
// as the whole body.
package outguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/actiongate/actiongate/internal/mcp"
	"slices"
	"strings"

	"github.com/actiongate/actiongate/internal/inject"
	"github.com/actiongate/actiongate/internal/redact"
)

// Reasons a message is withheld (error.data.reason for the agent, and the
// audit record).
const (
	ReasonRedactionBlocked = redact.ReasonFinding
	ReasonBudgetExhausted  = redact.ReasonBudgetExhausted
	ReasonInjectionBlocked = "injection_blocked"
	ReasonUnreadable       = "unreadable_response"
	ReasonArgsInjection    = "injection_in_arguments"
)

// Config is the output policy as plain data.
type Config struct {
	// Redaction is the default redaction policy.
	Redaction redact.Config
	// ByClassification overrides redaction actions per kind for servers of
	// a data classification ("restricted": {"email": "block"}).
	ByClassification map[string]map[redact.Kind]redact.Action
	// Injection: nil Ladder disables interception in results.
	Injection inject.Policies
	// ArgumentsBlockAt, when > 0, blocks a tools/call whose argument
	// strings score at least this (argument text is never rewritten: the
	// call would no longer be the one that was decided and audited).
	ArgumentsBlockAt float64
	// Classifier is the optional external injection classifier.
	Classifier inject.Classifier
}

// Guard is a compiled Config; immutable and safe for concurrent use.
type Guard struct {
	base     *redact.Policy
	byClass  map[string]*redact.Policy
	detector *inject.Detector
	ladder   inject.Policies
	argsAt   float64
	// hasClassifier: an external classifier scores each string; the raw
	// shortcut does not apply.
	hasClassifier bool
}

// New compiles cfg.
func New(cfg Config) (*Guard, error) {
	base, err := redact.NewPolicy(cfg.Redaction)
	if err != nil {
		return nil, fmt.Errorf("output policy: %w", err)
	}
	g := &Guard{base: base, byClass: map[string]*redact.Policy{}, ladder: cfg.Injection, argsAt: cfg.ArgumentsBlockAt,
		hasClassifier: cfg.Classifier != nil}
	for class, actions := range cfg.ByClassification {
		c := cfg.Redaction
		c.Actions = map[redact.Kind]redact.Action{}
		for k, a := range cfg.Redaction.Actions {
			c.Actions[k] = a
		}
		for k, a := range actions {
			c.Actions[k] = a
		}
		if g.byClass[class], err = redact.NewPolicy(c); err != nil {
			return nil, fmt.Errorf("output policy for %s servers: %w", class, err)
		}
	}
	if len(cfg.Injection) > 0 || cfg.ArgumentsBlockAt > 0 {
		if len(cfg.Injection) > 0 {
			if err := cfg.Injection.Validate(); err != nil {
				return nil, fmt.Errorf("output policy: %w", err)
			}
		}
		if cfg.ArgumentsBlockAt < 0 || cfg.ArgumentsBlockAt > 1 {
			return nil, fmt.Errorf("output policy: argumentsBlockAt %v outside [0, 1]", cfg.ArgumentsBlockAt)
		}
		if g.detector, err = inject.New(inject.Options{Classifier: cfg.Classifier}); err != nil {
			return nil, fmt.Errorf("output policy: %w", err)
		}
	}
	return g, nil
}

// Finding is one thing the guard did, safe for logs and audit: never the
// matched text.
type Finding struct {
	Kind   string // "redaction" or "injection"
	Class  string // redaction kind (secret, email…) or injection family
	Rule   string
	Path   string
	Action string
	Score  float64 `json:",omitempty"` // injection only
}

// String is the compact form recorded on audit events:
// "redaction/secret/aws-access-token@result.content[0].text:mask".
func (f Finding) String() string {
	return f.Kind + "/" + f.Class + "/" + f.Rule + "@" + f.Path + ":" + f.Action
}

// Blocked says the message must not reach the agent.
type Blocked struct {
	Reason string // one of the Reason constants
	Detail string // kind and rule; never the matched text
}

// Outcome of guarding one message.
type Outcome struct {
	// Body to forward: the input itself when nothing changed; nil when
	// Blocked.
	Body     []byte
	Changed  bool
	Findings []Finding
	Blocked  *Blocked
}

// Message guards one JSON-RPC message (a response, or a server
// notification/request on an SSE stream) from a server of the given data
// classification. creds are credentials the gateway injected for this call;
// any occurrence is redacted whatever the policy says. A body that is not
// JSON is withheld: what cannot be read cannot be checked.
func (g *Guard) Message(ctx context.Context, classification string, body []byte, creds []string) (Outcome, error) {
	pol := g.base
	if p := g.byClass[classification]; p != nil {
		pol = p
	}
	if len(creds) > 0 && mayHoldCredential(body, creds) {
		var err error
		if pol, err = pol.WithCredentials(creds...); err != nil {
			return Outcome{}, fmt.Errorf("brokered credentials: %w", err)
		}
	}
	r, err := pol.RedactMessage(body)
	if errors.Is(err, redact.ErrNotJSON) {
		return Outcome{Blocked: &Blocked{Reason: ReasonUnreadable, Detail: "the tool server's message is not JSON"}}, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Body: r.Body, Changed: r.Changed}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, Finding{Kind: "redaction", Class: string(f.Kind), Rule: f.Rule, Path: f.Path, Action: string(f.Action)})
	}
	if r.Blocked != nil {
		out.Body, out.Changed = nil, true
		out.Blocked = &Blocked{Reason: r.Blocked.Reason, Detail: strings.Trim(string(r.Blocked.Kind)+" "+r.Blocked.Rule, " ")}
		return out, nil
	}
	if g.detector == nil || len(g.ladder) == 0 {
		return out, nil
	}
	return g.intercept(ctx, out)
}

// injectionTargets are where tool output meant for the model sits.
var injectionTargets = [][]string{
	{"result", "content", "[]", "text"},
	{"result", "content", "[]", "resource", "text"},
	{"result", "structuredContent", "**"},
	{"result", "contents", "[]", "text"},
	{"params", "message"}, // elicitation/create: text a server asks the user, read by the model
}

// intercept runs the injection detector on every string at the injection
// targets and applies the ladder. The body is re-encoded only when an
// action rewrote a string.
func (g *Guard) intercept(ctx context.Context, out Outcome) (Outcome, error) {
	if !mayHoldTargets(out.Body) || g.cleanRaw(ctx, out.Body) {
		return out, nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(out.Body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Outcome{}, fmt.Errorf("re-reading redacted message: %w", err)
	}
	changed := false
	var blocked *Blocked
	var walkErr error
	visit := func(path string, s string) (string, bool) {
		if blocked != nil || walkErr != nil {
			return s, false
		}
		res, err := g.detector.DetectContext(ctx, s)
		if err != nil && !errors.Is(err, inject.ErrClassifierUnavailable) {
			walkErr = err
			return s, false
		}
		act := g.ladder.Decide(res)
		if act == inject.ActionAllow {
			return s, false
		}
		text, act := g.ladder.Apply(s, res)
		rules := res.Rules()
		if len(rules) == 0 {
			rules = []string{"classifier"}
		}
		for _, rule := range rules {
			out.Findings = append(out.Findings, Finding{Kind: "injection", Class: familyOf(res, rule), Rule: rule, Path: path, Action: act.String(), Score: res.Score})
		}
		if act == inject.ActionBlock {
			blocked = &Blocked{Reason: ReasonInjectionBlocked, Detail: fmt.Sprintf("possible prompt injection (%s, score %.2f)", strings.Join(rules, ", "), res.Score)}
			return s, false
		}
		return text, text != s
	}
	for _, t := range injectionTargets {
		doc = walk(doc, t, "", visit, &changed)
	}
	if walkErr != nil {
		return Outcome{}, walkErr
	}
	if blocked != nil {
		out.Body, out.Changed, out.Blocked = nil, true, blocked
		return out, nil
	}
	if !changed {
		return out, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return Outcome{}, err
	}
	out.Body, out.Changed = bytes.TrimRight(buf.Bytes(), "\n"), true
	return out, nil
}

// mayHoldCredential reports whether any form of any credential occurs in
// body once its JSON escapes are undone (every decoded string is then a
// substring of the text, so none can hold a form the text lacks). Bodies
// that are not valid JSON say yes: the redactor decides. Compiling the
// credential matcher costs far more than this scan, and almost no response
// echoes a credential.
func mayHoldCredential(body []byte, creds []string) bool {
	text := body
	if bytes.IndexByte(body, '\\') >= 0 {
		if !json.Valid(body) {
			return true
		}
		text = mcp.AppendUnescaped(make([]byte, 0, len(body)), body)
	}
	for _, c := range creds {
		for _, f := range redact.CredentialForms(c) {
			if bytes.Contains(text, []byte(f[0])) {
				return true
			}
		}
	}
	return false
}

// cleanRaw is the fast path for the common case, text with nothing in
// it. With the JSON's escapes undone, every string of the message is a
// substring of the whole text, so a detector that finds nothing in the
// whole text would find nothing in any one string, and the per-string walk
// (which decodes the message again) can be skipped. raw must be valid JSON
// (both callers pass text that was parsed or validated). A text past the
// detector's scan cap, or a configured classifier (which must see each
// string), takes the slow path.
func (g *Guard) cleanRaw(ctx context.Context, raw []byte) bool {
	if g.hasClassifier || len(raw) > inject.DefaultMaxScanBytes {
		return false
	}
	text := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 {
		text = string(mcp.AppendUnescaped(make([]byte, 0, len(raw)), raw))
	}
	res, err := g.detector.DetectContext(ctx, text)
	return err == nil && res.Score == 0 && len(res.Findings) == 0
}

// mayHoldTargets: only results and requests from the server carry text
// for the model; an error response or a bare ack does not.
func mayHoldTargets(body []byte) bool {
	return bytes.Contains(body, []byte(`"result"`)) || bytes.Contains(body, []byte(`"message"`))
}

func familyOf(r inject.Result, rule string) string {
	for _, f := range r.Findings {
		if f.Rule == rule {
			return string(f.Family)
		}
	}
	return "classifier"
}

// walk applies visit to every string at path below v (a decoded JSON
// value), returning the possibly rewritten value. Member names match
// exactly: the message passed strict parsing upstream of here.
func walk(v any, path []string, at string, visit func(string, string) (string, bool), changed *bool) any {
	if len(path) == 0 {
		if s, ok := v.(string); ok {
			if ns, ch := visit(at, s); ch {
				*changed = true
				return ns
			}
		}
		return v
	}
	switch seg := path[0]; seg {
	case "**":
		switch x := v.(type) {
		case string:
			return walk(x, nil, at, visit, changed)
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				x[k] = walk(x[k], path, at+"."+k, visit, changed)
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i], path, fmt.Sprintf("%s[%d]", at, i), visit, changed)
			}
		}
		return v
	case "[]":
		if arr, ok := v.([]any); ok {
			for i := range arr {
				arr[i] = walk(arr[i], path[1:], fmt.Sprintf("%s[%d]", at, i), visit, changed)
			}
		}
		return v
	default:
		if m, ok := v.(map[string]any); ok {
			if child, ok := m[seg]; ok {
				name := seg
				if at != "" {
					name = at + "." + seg
				}
				m[seg] = walk(child, path[1:], name, visit, changed)
			}
		}
		return v
	}
}

// Arguments checks a tools/call's argument strings for injected
// instructions (an agent relaying poisoned text into another tool). It
// never rewrites: it reports, and blocks at ArgumentsBlockAt.
func (g *Guard) Arguments(ctx context.Context, args json.RawMessage) (Outcome, error) {
	if g.detector == nil || len(args) == 0 || g.argsAt <= 0 {
		return Outcome{Body: args}, nil
	}
	if !json.Valid(args) {
		return Outcome{}, errors.New("reading arguments: not valid JSON")
	}
	if g.cleanRaw(ctx, args) {
		return Outcome{Body: args}, nil
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Outcome{}, fmt.Errorf("reading arguments: %w", err)
	}
	out := Outcome{Body: args}
	var walkErr error
	visit := func(path string, s string) (string, bool) {
		if out.Blocked != nil || walkErr != nil {
			return s, false
		}
		res, err := g.detector.DetectContext(ctx, s)
		if err != nil && !errors.Is(err, inject.ErrClassifierUnavailable) {
			walkErr = err
			return s, false
		}
		if res.Score == 0 {
			return s, false
		}
		action := "report"
		if res.Score >= g.argsAt {
			action = "block"
			out.Blocked = &Blocked{Reason: ReasonArgsInjection, Detail: fmt.Sprintf("possible prompt injection in arguments at %s (score %.2f)", path, res.Score)}
		}
		for _, rule := range res.Rules() {
			out.Findings = append(out.Findings, Finding{Kind: "injection", Class: familyOf(res, rule), Rule: rule, Path: path, Action: action, Score: res.Score})
		}
		return s, false
	}
	var changed bool
	walk(doc, []string{"**"}, "params.arguments", visit, &changed)
	if walkErr != nil {
		return Outcome{}, walkErr
	}
	if out.Blocked != nil {
		out.Body = nil
	}
	return out, nil
}
