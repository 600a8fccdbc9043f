package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestActions(t *testing.T) {
	t.Parallel()
	const text = "key AKIAZ7VQ4CNHV3HMSPLE mail john.doe@example.com end"
	sum := sha256.Sum256([]byte("john.doe@example.com"))
	m := hmac.New(sha256.New, []byte("k1"))
	m.Write([]byte("john.doe@example.com"))
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    string
		drop    bool
		blocked Kind
		actions []Action // per finding, in order
	}{
		{"mask by default", Config{},
			"key [REDACTED:secret] mail [REDACTED:email] end", false, "", []Action{ActionMask, ActionMask}},
		{"hash", Config{Actions: map[Kind]Action{KindEmail: ActionHash}},
			"key [REDACTED:secret] mail [SHA256:" + hex.EncodeToString(sum[:])[:12] + "] end", false, "", []Action{ActionMask, ActionHash}},
		{"keyed hash", Config{Actions: map[Kind]Action{KindEmail: ActionHash}, HashKey: []byte("k1")},
			"key [REDACTED:secret] mail [SHA256:" + hex.EncodeToString(m.Sum(nil))[:12] + "] end", false, "", []Action{ActionMask, ActionHash}},
		{"report leaves the text", Config{Actions: map[Kind]Action{KindEmail: ActionReport}},
			"key [REDACTED:secret] mail john.doe@example.com end", false, "", []Action{ActionMask, ActionReport}},
		{"off does not look", Config{Actions: map[Kind]Action{KindEmail: ActionOff}},
			"key [REDACTED:secret] mail john.doe@example.com end", false, "", []Action{ActionMask}},
		{"drop masks and flags", Config{Actions: map[Kind]Action{KindEmail: ActionDrop}},
			"key [REDACTED:secret] mail [REDACTED:email] end", true, "", []Action{ActionMask, ActionDrop}},
		{"block stops before the finding", Config{Actions: map[Kind]Action{KindEmail: ActionBlock}},
			"key [REDACTED:secret] mail ", false, KindEmail, []Action{ActionMask, ActionBlock}},
		{"rule action overrides kind", Config{RuleActions: map[string]Action{"aws-access-token": ActionBlock}},
			"key ", false, KindSecret, []Action{ActionBlock}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPolicy(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := p.RedactText([]byte(text))
			if string(r.Text) != tc.want || r.Drop != tc.drop {
				t.Fatalf("got %q drop=%v, want %q drop=%v", r.Text, r.Drop, tc.want, tc.drop)
			}
			if (r.Blocked != nil) != (tc.blocked != "") || (r.Blocked != nil && (r.Blocked.Kind != tc.blocked || r.Blocked.Reason != ReasonFinding)) {
				t.Fatalf("blocked = %+v, want kind %q", r.Blocked, tc.blocked)
			}
			if r.Blocked != nil && !errors.Is(r.Blocked, ErrBlocked) {
				t.Fatal("BlockedError does not match ErrBlocked")
			}
			var got []Action
			for _, f := range r.Findings {
				got = append(got, f.Action)
			}
			if strings.Join(actionStrings(got), ",") != strings.Join(actionStrings(tc.actions), ",") {
				t.Fatalf("finding actions %v, want %v", got, tc.actions)
			}
		})
	}
}

func actionStrings(as []Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}

func TestActions_OverlapTakesStrongestAndFirstKind(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(Config{Actions: map[Kind]Action{KindEmail: ActionHash}})
	if err != nil {
		t.Fatal(err)
	}
	// The URL password rule and the email detector overlap on
	// "S3cr3tPw@db.example.com": one redaction, the stronger action (hash).
	r := p.RedactText([]byte("postgres://app:S3cr3tPw@db.example.com/app"))
	if !strings.HasPrefix(string(r.Text), "postgres://app:[SHA256:") || !strings.HasSuffix(string(r.Text), "]/app") || len(r.Findings) != 2 {
		t.Fatalf("got %q with %v", r.Text, r.Findings)
	}
	// Same strength: the label is the kind listed first in Kinds.
	q := defaultPolicy(t)
	r = q.RedactText([]byte("postgres://app:S3cr3tPw@db.example.com/app"))
	if got := string(r.Text); got != "postgres://app:[REDACTED:secret]/app" {
		t.Fatalf("got %q", got)
	}
}

func TestConfig_Validation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown kind", Config{Actions: map[Kind]Action{"ssn": ActionMask}}, `unknown kind "ssn"`},
		{"unknown action", Config{Actions: map[Kind]Action{KindEmail: "shred"}}, `unknown action "shred"`},
		{"unknown rule", Config{RuleActions: map[string]Action{"no-such-rule": ActionBlock}}, `unknown rule "no-such-rule"`},
		{"exhaustion action", Config{Budget: Budget{Base: 1, OnExhausted: ActionMask}}, "onExhausted must be block or report"},
		{"phone region", Config{PhoneRegions: []string{"uk"}}, `phone region "uk"`},
		{"unknown phone region", Config{PhoneRegions: []string{"XX"}}, `phone region "XX"`},
		{"target", Config{Targets: []string{"result.**.text"}}, "** must be last"},
		{"secret cap", Config{MaxSecretLen: 10}, "maxSecretLen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewPolicy(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
