package app

import (
	"fmt"
	"os"
	"time"

	"github.com/actiongate/actiongate/internal/inject"
	"github.com/actiongate/actiongate/internal/outguard"
	"github.com/actiongate/actiongate/internal/redact"
)

// OutputConfig is the output policy ext_proc applies to everything a tool
// server sends back (docs/redaction.md, docs/injection.md). Redaction is
// on unless Disabled; injection interception follows Injection.
type OutputConfig struct {
	// Disabled forwards tool output unread. Only for debugging.
	Disabled bool `yaml:"disabled"`
	// Actions per finding kind (secret, credential, email, phone, card,
	// iban, national_id): off | report | mask | hash | drop | block.
	Actions map[string]string `yaml:"actions"`
	// RuleActions override Actions for single secret rules by id.
	RuleActions map[string]string `yaml:"ruleActions"`
	// ByClassification overrides Actions for servers of a registry
	// classification (public, internal, confidential, restricted).
	ByClassification map[string]map[string]string `yaml:"byClassification"`
	PhoneRegions     []string                     `yaml:"phoneRegions"`
	NationalIDs      []redact.NationalID          `yaml:"nationalIDs"`
	// HashKeyEnv names the variable holding the HMAC key for hash actions.
	HashKeyEnv string          `yaml:"hashKeyEnv"`
	Injection  InjectionConfig `yaml:"injection"`
}

// InjectionConfig is the prompt-injection part of the output policy.
type InjectionConfig struct {
	// Ladder: the strongest action whose threshold the score reaches
	// applies (annotate | neutralize | block). Empty: no interception.
	Ladder []InjectionStep `yaml:"ladder"`
	// ArgumentsBlockAt > 0 refuses tools/call whose argument strings
	// score at least this.
	ArgumentsBlockAt float64 `yaml:"argumentsBlockAt"`
	// Classifier is an optional external model (HTTP).
	Classifier *ClassifierConfig `yaml:"classifier"`
}

// InjectionStep is one rung of the ladder.
type InjectionStep struct {
	Threshold float64 `yaml:"threshold"`
	Action    string  `yaml:"action"`
}

// ClassifierConfig points at an injection classifier: POST {"text"} →
// {"score"}. FailMode says what a failed call scores: closed (1) or open (0).
type ClassifierConfig struct {
	URL      string        `yaml:"url"`
	Timeout  time.Duration `yaml:"timeout"`
	FailMode string        `yaml:"failMode"`
}

// DefaultOutput masks every finding kind, neutralizes likely injected
// instructions (score ≥ 0.5) and refuses tool calls whose arguments score
// ≥ 0.8. Whole results are not withheld for injection by default: anyone
// who can put text in a mailbox or a web page could then deny the user
// every tool that reads it; deployments that prefer that trade add a
// block rung.
func DefaultOutput() OutputConfig {
	return OutputConfig{Injection: InjectionConfig{
		Ladder:           []InjectionStep{{0.5, "neutralize"}},
		ArgumentsBlockAt: 0.8,
	}}
}

// guard compiles the output policy; nil when disabled.
func (c OutputConfig) guard() (*outguard.Guard, error) {
	if c.Disabled {
		return nil, nil
	}
	cfg := outguard.Config{
		Redaction: redact.Config{
			Actions: kindActions(c.Actions), RuleActions: map[string]redact.Action{},
			PhoneRegions: c.PhoneRegions, NationalIDs: c.NationalIDs,
		},
		ByClassification: map[string]map[redact.Kind]redact.Action{},
		ArgumentsBlockAt: c.Injection.ArgumentsBlockAt,
	}
	for id, a := range c.RuleActions {
		cfg.Redaction.RuleActions[id] = redact.Action(a)
	}
	for class, acts := range c.ByClassification {
		cfg.ByClassification[class] = kindActions(acts)
	}
	if c.HashKeyEnv != "" {
		key := os.Getenv(c.HashKeyEnv)
		if key == "" {
			return nil, fmt.Errorf("output.hashKeyEnv: %s is empty", c.HashKeyEnv)
		}
		cfg.Redaction.HashKey = []byte(key)
	}
	for i, s := range c.Injection.Ladder {
		a, err := inject.ParseAction(s.Action)
		if err != nil {
			return nil, fmt.Errorf("output.injection.ladder[%d]: %w", i, err)
		}
		cfg.Injection = append(cfg.Injection, inject.Policy{Threshold: s.Threshold, Action: a})
	}
	if cl := c.Injection.Classifier; cl != nil {
		mode := inject.FailClosed
		switch cl.FailMode {
		case "", "closed":
		case "open":
			mode = inject.FailOpen
		default:
			return nil, fmt.Errorf("output.injection.classifier.failMode: %q is not closed or open", cl.FailMode)
		}
		hc, err := inject.NewHTTPClassifier(inject.HTTPClassifierOptions{URL: cl.URL, Timeout: cl.Timeout, FailMode: mode})
		if err != nil {
			return nil, fmt.Errorf("output.injection.classifier: %w", err)
		}
		cfg.Classifier = hc
	}
	g, err := outguard.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return g, nil
}

func kindActions(m map[string]string) map[redact.Kind]redact.Action {
	out := make(map[redact.Kind]redact.Action, len(m))
	for k, a := range m {
		out[redact.Kind(k)] = redact.Action(a)
	}
	return out
}
