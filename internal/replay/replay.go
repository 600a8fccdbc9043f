// Package replay re-runs the policy step of one recorded decision: it loads
// the exact policy revision and input document the decision consumed from
// the content store (each verified against its hash), evaluates the input
// again, and compares the outcome, the reason and the policy's reasons with
// what the audit event recorded. A difference, or a store object that is
// missing or does not match its hash, is an error.
package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/registry"
)

// Store is where replay reads what decisions consumed;
// *contentstore.Store is one. Every method verifies what it returns.
type Store interface {
	LoadInput(addr string) ([]byte, error)
	LoadPolicy(ctx context.Context, revision string) (*policy.Bundle, error)
	LoadRegistry(version string) (*registry.Registry, string, error)
}

var _ Store = (*contentstore.Store)(nil)

// Errors, for errors.Is. Store errors (contentstore.ErrNotFound,
// contentstore.ErrTampered) are returned wrapped as they are.
var (
	// ErrMismatch: the replayed decision differs from the recorded one.
	ErrMismatch = errors.New("replay differs from the recorded decision")
	// ErrNoInput: the decision reached the policy step but the event has
	// no input hash, so there is nothing to evaluate.
	ErrNoInput = errors.New("the event records no policy input")
	// ErrInconsistent: the stored input does not belong to the event (it
	// names another principal, call or registry version).
	ErrInconsistent = errors.New("the stored input does not match the event")
)

// Status summarizes a report.
type Status string

// Statuses.
const (
	StatusMatch        Status = "match"
	StatusMismatch     Status = "mismatch"
	StatusBeforePolicy Status = "before_policy" // nothing to replay, not an error
)

// Side is one decision's outcome as the audit event records it.
type Side struct {
	Outcome       string   `json:"outcome"`
	Reason        string   `json:"reason"`
	PolicyReasons []string `json:"policyReasons"`
	// Error is why the replayed evaluation failed (replayed side only).
	Error string `json:"error,omitempty"`
	// Carried names the later step (rate limit, audit spool) whose denial
	// the replayed side takes from the event: replay re-runs policy only.
	Carried string `json:"carried,omitempty"`
}

// Check is one verification replay made, or could not make.
type Check struct {
	Name   string `json:"name"`
	Result string `json:"result"` // "ok", "skipped" or "failed"
	Detail string `json:"detail"`
}

// Report is the outcome of one replay.
type Report struct {
	DecisionID      string    `json:"decisionId"`
	EventID         string    `json:"eventId"`
	Instance        string    `json:"instance"`
	Seq             uint64    `json:"seq"`
	EventTime       time.Time `json:"eventTime"`
	DecidedAt       string    `json:"decidedAt,omitempty"` // the input's time: the policy's clock
	PolicyRevision  string    `json:"policyRevision,omitempty"`
	InputHash       string    `json:"inputHash,omitempty"`
	RegistryVersion string    `json:"registryVersion,omitempty"`
	Status          Status    `json:"status"`
	Match           bool      `json:"match"`
	Note            string    `json:"note,omitempty"`
	Original        Side      `json:"original"`
	Replayed        *Side     `json:"replayed,omitempty"`
	Differences     []string  `json:"differences,omitempty"`
	Checks          []Check   `json:"checks"`
}

func (r *Report) check(name, result, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Result: result, Detail: fmt.Sprintf(format, args...)})
}

// Replay re-evaluates ev's policy step. A decision that ended before the
// policy step (unknown tool, invalid token, ...) reports StatusBeforePolicy
// and no error. Any other report that is not StatusMatch comes with an
// error saying exactly what differs or what could not be verified.
func Replay(ctx context.Context, ev audit.Event, store Store) (Report, error) {
	r := Report{
		DecisionID: ev.DecisionID, EventID: ev.ID, Instance: ev.InstanceID, Seq: ev.Seq, EventTime: ev.Time,
		PolicyRevision: ev.PolicyRevision, InputHash: ev.InputHash, RegistryVersion: ev.RegistryVersion,
		Original: Side{Outcome: ev.Outcome, Reason: ev.Reason, PolicyReasons: nonNil(ev.PolicyReasons)},
	}
	switch {
	case ev.Kind != audit.KindDecision:
		return r, fmt.Errorf("event %s is of kind %s; replay needs the decision event of %s", ev.ID, ev.Kind, ev.DecisionID)
	case ev.PolicyRevision == "" && ev.InputHash == "":
		r.Status, r.Match = StatusBeforePolicy, true
		r.Note = fmt.Sprintf("decided before policy: reason %s; nothing to replay", ev.Reason)
		return r, nil
	case ev.PolicyRevision == "":
		return r, fmt.Errorf("%w: event %s has input %s but no policy revision", ErrInconsistent, ev.ID, ev.InputHash)
	case ev.InputHash == "":
		return r, fmt.Errorf("%w: decision %s was made by policy %s but the gateway recorded no input hash; it cannot be replayed",
			ErrNoInput, ev.DecisionID, ev.PolicyRevision)
	}
	doc, err := store.LoadInput(ev.InputHash)
	if err != nil {
		return r, fmt.Errorf("policy input of decision %s: %w", ev.DecisionID, err)
	}
	r.check("input", "ok", "%s: stored document hashes to the event's inputHash", ev.InputHash)
	in, err := parseInput(doc)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrInconsistent, err)
	}
	r.DecidedAt = in.Time
	if err := checkInput(&r, ev, in, doc, store); err != nil {
		return r, err
	}
	b, err := store.LoadPolicy(ctx, ev.PolicyRevision)
	if err != nil {
		return r, fmt.Errorf("policy of decision %s: %w", ev.DecisionID, err)
	}
	eng, err := policy.Compile(ctx, b)
	if err != nil {
		return r, fmt.Errorf("policy %s does not compile here (a different OPA build?): %w", ev.PolicyRevision, err)
	}
	r.check("policy", "ok", "%s: stored bundle loads with this revision and compiles", ev.PolicyRevision)
	res, evalErr := eng.EvaluateDocument(ctx, doc)
	if ctx.Err() != nil {
		return r, fmt.Errorf("replay of %s interrupted: %w", ev.DecisionID, ctx.Err())
	}
	replayed := replayedSide(ev, res, evalErr)
	r.Replayed = &replayed
	r.Differences = compare(r.Original, replayed)
	if len(r.Differences) > 0 {
		r.Status = StatusMismatch
		return r, fmt.Errorf("%w: decision %s: %s", ErrMismatch, ev.DecisionID, joinDiffs(r.Differences))
	}
	r.Status, r.Match = StatusMatch, true
	return r, nil
}

// afterPolicy are the reasons a step after an answering policy can give,
// with the policy outcomes that step can follow. Replay re-runs policy only,
// so for these the replayed side takes the event's final outcome when the
// policy answered one of those outcomes.
var afterPolicy = map[decision.Reason][]decision.Outcome{
	decision.ReasonRateLimited:      {decision.Allow},
	decision.ReasonInternal:         {decision.Allow}, // the rate-limit store failed after an allow
	decision.ReasonAuditUnavailable: {decision.Allow}, // an allowed call whose event could not be written
}

// replayedSide is the decision the replayed policy answer leads to, as
// extauthz maps it (evaluatePolicy).
func replayedSide(ev audit.Event, res policy.Result, err error) Side {
	if err != nil {
		return Side{Outcome: string(decision.Deny), Reason: string(decision.ReasonInternal), PolicyReasons: []string{},
			Error: err.Error()}
	}
	s := Side{PolicyReasons: nonNil(res.Reasons)}
	switch res.Outcome() {
	case decision.Allow:
		s.Outcome, s.Reason = string(decision.Allow), string(decision.ReasonAllowed)
	case decision.ApprovalRequired:
		s.Outcome, s.Reason = string(decision.ApprovalRequired), string(decision.ReasonApprovalRequired)
	default:
		s.Outcome, s.Reason = string(decision.Deny), string(decision.ReasonPolicyDenied)
	}
	if after, ok := afterPolicy[decision.Reason(ev.Reason)]; ok && slices.Contains(after, res.Outcome()) {
		s.Carried = fmt.Sprintf("policy answered %s; the later step's %s is taken from the event, not replayed", s.Outcome, ev.Reason)
		s.Outcome, s.Reason = ev.Outcome, ev.Reason
	}
	return s
}

func compare(orig, rep Side) []string {
	var d []string
	if orig.Outcome != rep.Outcome {
		d = append(d, fmt.Sprintf("outcome %s, replayed %s", orig.Outcome, rep.Outcome))
	}
	if orig.Reason != rep.Reason {
		d = append(d, fmt.Sprintf("reason %s, replayed %s", orig.Reason, rep.Reason))
	}
	if !slices.Equal(orig.PolicyReasons, rep.PolicyReasons) {
		d = append(d, fmt.Sprintf("policy reasons %q, replayed %q", orig.PolicyReasons, rep.PolicyReasons))
	}
	if rep.Error != "" {
		d = append(d, "replayed evaluation failed: "+rep.Error)
	}
	if rep.Error != "" && orig.Reason == string(decision.ReasonInternal) && len(d) == 1 {
		// The policy failed then and fails now: the same decision.
		return nil
	}
	return d
}

func joinDiffs(d []string) string {
	out := d[0]
	for _, s := range d[1:] {
		out += "; " + s
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
