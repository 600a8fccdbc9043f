package redact

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is what a finding is, as policy and audit name it.
type Kind string

const (
	KindSecret     Kind = "secret"      // a gitleaks (or ActionGate) secret rule matched
	KindCredential Kind = "credential"  // a credential the gateway brokered, matched exactly
	KindEmail      Kind = "email"       // structurally valid address with an ICANN TLD
	KindPhone      Kind = "phone"       // valid per libphonenumber metadata
	KindCard       Kind = "card"        // payment card: Luhn and a known IIN/length
	KindIBAN       Kind = "iban"        // ISO 13616: country length and mod-97
	KindNationalID Kind = "national_id" // configured national identifiers (e.g. US SSN)
)

// Kinds lists every kind, in the priority order used to label a redaction
// that covers findings of several kinds.
var Kinds = []Kind{KindCredential, KindSecret, KindCard, KindIBAN, KindNationalID, KindPhone, KindEmail}

func (k Kind) index() int {
	switch k {
	case KindCredential:
		return 0
	case KindSecret:
		return 1
	case KindCard:
		return 2
	case KindIBAN:
		return 3
	case KindNationalID:
		return 4
	case KindPhone:
		return 5
	case KindEmail:
		return 6
	}
	return -1
}

// Action is what happens to a finding.
type Action string

const (
	ActionOff    Action = "off"    // do not look for this kind at all
	ActionReport Action = "report" // record the finding, leave the text as is
	ActionMask   Action = "mask"   // replace with [REDACTED:<kind>]
	ActionHash   Action = "hash"   // replace with [SHA256:<first 12 hex>]
	ActionDrop   Action = "drop"   // remove the content item that holds it
	ActionBlock  Action = "block"  // withhold the whole result
)

// strength orders actions: where findings overlap, the strongest wins.
func (a Action) strength() int {
	switch a {
	case ActionOff:
		return 0
	case ActionReport:
		return 1
	case ActionMask:
		return 2
	case ActionHash:
		return 3
	case ActionDrop:
		return 4
	case ActionBlock:
		return 5
	}
	return -1
}

func (a Action) valid() bool { return a.strength() >= 0 }

// modifies reports whether the action changes the text.
func (a Action) modifies() bool { return a.strength() >= ActionMask.strength() }

// Finding is one detection. It never holds the detected value: only where
// it was and what matched, so it can go to logs and audit events as is.
type Finding struct {
	Kind   Kind   `json:"kind"`
	Rule   string `json:"rule"`           // gitleaks rule id, "luhn", "mod97", "US_SSN", …
	Path   string `json:"path,omitempty"` // JSON location of the string, e.g. result.content[0].text
	Start  int    `json:"start"`          // byte span in the decoded string
	End    int    `json:"end"`
	Action Action `json:"action"`
}

// Reasons a result is withheld, for BlockedError.Reason and audit.
const (
	ReasonFinding         = "redaction_blocked"
	ReasonBudgetExhausted = "redaction_budget_exhausted"
	ReasonInternal        = "redaction_failed" // an engine invariant broke; fail closed
)

// ErrBlocked matches every *BlockedError (errors.Is).
var ErrBlocked = errors.New("tool result withheld by output policy")

// ErrBudgetExhausted matches a BlockedError caused by the CPU budget.
var ErrBudgetExhausted = errors.New("redaction budget exhausted")

// BlockedError says a result must not reach the agent. The caller answers
// with an MCP error instead (see BlockedBody); Kind and Rule say why, never
// what was found.
type BlockedError struct {
	Reason string // ReasonFinding or ReasonBudgetExhausted
	Kind   Kind
	Rule   string
	Path   string
}

func (e *BlockedError) Error() string {
	switch e.Reason {
	case ReasonBudgetExhausted:
		return "tool result withheld: redaction budget exhausted before the body was fully scanned"
	case ReasonInternal:
		return "tool result withheld: redaction failed"
	}
	return fmt.Sprintf("tool result withheld by output policy: %s (%s)", e.Kind, e.Rule)
}

func (e *BlockedError) Is(target error) bool {
	return target == ErrBlocked || (target == ErrBudgetExhausted && e.Reason == ReasonBudgetExhausted)
}

// Config is the redaction part of policy, as plain data.
type Config struct {
	// Actions per kind. Kinds left out get DefaultActions.
	Actions map[Kind]Action
	// RuleActions override Actions for individual secret rules by id
	// (e.g. "private-key": block).
	RuleActions map[string]Action
	// PhoneRegions are the CLDR regions whose national formats are
	// recognised; numbers written with + or an international prefix are
	// recognised for every region. Default: DefaultPhoneRegions.
	PhoneRegions []string
	// NationalIDs are the identifiers recognised as KindNationalID: built-in
	// names ("US_SSN") or custom patterns. Default: US_SSN.
	NationalIDs []NationalID
	// Budget bounds the secret matcher's work per body.
	Budget Budget
	// MaxPhoneValidations bounds libphonenumber validations per body (each
	// costs microseconds); past it, phone-shaped numbers are redacted
	// unvalidated (rule "phone-unvalidated"). Default 256.
	MaxPhoneValidations int
	// HashKey, when set, makes ActionHash an HMAC-SHA256 so that short
	// values (phone numbers, SSNs) cannot be recovered by enumeration.
	HashKey []byte
	// MaxSecretLen caps how long a secret whose rule has no length limit
	// may be (window and stream carry-over). Default 8192.
	MaxSecretLen int
	// Targets are the JSON locations redacted in a JSON-RPC message.
	// Default: DefaultTargets.
	Targets []string
}

// Budget is the hard bound on secret-matching work for one body, in units
// of roughly a nanosecond of regex work on the reference machine (see
// docs/perf/redaction.md). The limit is Base + PerByte × body length.
type Budget struct {
	Base    int
	PerByte int
	// OnExhausted: ActionBlock (default: fail closed) or ActionReport
	// (continue without the secret matcher, and say so in the result).
	OnExhausted Action
}

// Defaults.
var (
	DefaultActions = map[Kind]Action{
		KindSecret: ActionMask, KindCredential: ActionMask, KindEmail: ActionMask,
		KindPhone: ActionMask, KindCard: ActionMask, KindIBAN: ActionMask, KindNationalID: ActionMask,
	}
	// DefaultPhoneRegions is Presidio's PhoneRecognizer default set.
	DefaultPhoneRegions = []string{"US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"}
	DefaultBudget       = Budget{Base: 250_000, PerByte: 150, OnExhausted: ActionBlock}
)

const (
	defaultMaxPhoneValidations = 256
	defaultMaxSecretLen        = 8192
)

func (c Config) withDefaults() Config {
	if c.PhoneRegions == nil {
		c.PhoneRegions = DefaultPhoneRegions
	}
	if c.NationalIDs == nil {
		c.NationalIDs = []NationalID{{Name: "US_SSN"}}
	}
	if c.Budget == (Budget{}) {
		c.Budget = DefaultBudget
	}
	if c.Budget.OnExhausted == "" {
		c.Budget.OnExhausted = ActionBlock
	}
	if c.MaxPhoneValidations == 0 {
		c.MaxPhoneValidations = defaultMaxPhoneValidations
	}
	if c.MaxSecretLen == 0 {
		c.MaxSecretLen = defaultMaxSecretLen
	}
	if c.Targets == nil {
		c.Targets = DefaultTargets
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for k, a := range c.Actions {
		if k.index() < 0 {
			errs = append(errs, fmt.Errorf("unknown kind %q", k))
		}
		if !a.valid() {
			errs = append(errs, fmt.Errorf("kind %s: unknown action %q", k, a))
		}
	}
	for id, a := range c.RuleActions {
		if !a.valid() {
			errs = append(errs, fmt.Errorf("rule %s: unknown action %q", id, a))
		}
	}
	if a := c.Budget.OnExhausted; a != ActionBlock && a != ActionReport {
		errs = append(errs, fmt.Errorf("budget: onExhausted must be block or report, not %q", a))
	}
	if c.Budget.Base < 0 || c.Budget.PerByte < 0 || c.MaxPhoneValidations < 0 {
		errs = append(errs, errors.New("budget values must not be negative"))
	}
	if c.MaxSecretLen < 256 || c.MaxSecretLen > 1<<20 {
		errs = append(errs, fmt.Errorf("maxSecretLen %d outside 256..1MiB", c.MaxSecretLen))
	}
	for _, r := range c.PhoneRegions {
		if strings.ToUpper(r) != r || len(r) != 2 {
			errs = append(errs, fmt.Errorf("phone region %q: want a two-letter CLDR code", r))
		}
	}
	return errors.Join(errs...)
}
