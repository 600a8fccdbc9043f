package revocation

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"time"
	"unicode/utf8"
)

// Kind is what a revocation names.
type Kind string

// The kinds of subject a revocation can name.
const (
	// KindUser is a person: principal.Principal.User (the token's sub).
	KindUser Kind = "user"
	// KindAgent is an agent: principal.Principal.Agent, or any actor of a
	// delegation chain.
	KindAgent Kind = "agent"
	// KindSession is one session (a token's session id); it stops that
	// session only, not the person.
	KindSession Kind = "session"
)

// Source is the channel a revocation came in through, for the audit trail.
type Source string

// The sources a revocation may come from.
const (
	SourceCLI   Source = "cli"
	SourceAdmin Source = "admin"
	SourceSSF   Source = "ssf"
	SourceSCIM  Source = "scim"
	SourceDrill Source = "drill"
)

// maxSubject bounds a subject, as SpiceDB bounds an object id: a longer one
// is a mistake or an attack, never a principal.
const maxSubject = 1024

// maxText bounds Reason and Issuer.
const maxText = 1024

// Revocation is one record of the revocation topic. The topic is compacted
// by Key, so the latest record per subject is what is in force: a record
// with Lifted set ends an earlier revocation of the same subject.
type Revocation struct {
	// ID is unique per record (a UUIDv7); replicas acknowledge it.
	ID      string `json:"id"`
	Kind    Kind   `json:"kind"`
	Subject string `json:"subject"`
	// Reason is free text for people and the audit trail. It must not
	// carry a credential.
	Reason string `json:"reason,omitempty"`
	Source Source `json:"source"`
	// Issuer is who asked: an operator, an IdP's issuer, a SCIM client.
	Issuer string `json:"issuer"`
	// At is when the revocation (or its lift) was issued.
	At     time.Time `json:"at"`
	Lifted bool      `json:"lifted,omitempty"`
	// ZedToken is SpiceDB's token of the revoker's matching write
	// (authzmodel.Client.RevokeUser and friends), if it made one. A
	// replica's Apply hands it to its SpiceDB client (ObserveZedToken), so
	// that replica's checks see the write at once rather than after
	// SpiceDB's revision quantization.
	ZedToken string `json:"zedtoken,omitempty"`
}

// Key is the record's Kafka key, kind + "/" + subject: the compaction key,
// so the latest record per subject survives.
func (r Revocation) Key() string { return KeyOf(r.Kind, r.Subject) }

// KeyOf is the key of the subject of kind.
func KeyOf(kind Kind, subject string) string { return string(kind) + "/" + subject }

// Validate checks a record before it is published or applied. Every error
// names the field; none repeats the subject's bytes beyond its length.
func (r Revocation) Validate() error {
	switch {
	case r.ID == "":
		return errors.New("revocation: no id")
	case len(r.ID) > 64:
		return errors.New("revocation: id longer than 64 bytes")
	}
	switch r.Kind {
	case KindUser, KindAgent, KindSession:
	default:
		return fmt.Errorf("revocation: kind %q is not user, agent or session", trunc(string(r.Kind)))
	}
	if err := checkText("subject", r.Subject, maxSubject); err != nil {
		return err
	}
	if r.Subject == "" {
		return errors.New("revocation: no subject")
	}
	switch r.Source {
	case SourceCLI, SourceAdmin, SourceSSF, SourceSCIM, SourceDrill:
	default:
		return fmt.Errorf("revocation: source %q is not cli, admin, ssf, scim or drill", trunc(string(r.Source)))
	}
	if r.Issuer == "" {
		return errors.New("revocation: no issuer (who asked)")
	}
	if err := checkText("issuer", r.Issuer, maxText); err != nil {
		return err
	}
	if err := checkText("reason", r.Reason, maxText); err != nil {
		return err
	}
	if r.At.IsZero() {
		return errors.New("revocation: no time")
	}
	return checkText("zedtoken", r.ZedToken, maxText)
}

// checkText refuses invalid UTF-8, control characters (log injection) and
// overlong values.
func checkText(field, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("revocation: %s longer than %d bytes", field, limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("revocation: %s is not valid UTF-8", field)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("revocation: %s contains a control character", field)
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// encode is the record's Kafka value.
func (r Revocation) encode() ([]byte, error) { return json.Marshal(r) }

// decodeRecord parses and validates a record read under key. A record whose
// key is not its own would be compacted against another subject's history:
// it is refused.
func decodeRecord(key, value []byte) (Revocation, error) {
	var r Revocation
	if err := json.Unmarshal(value, &r); err != nil {
		return Revocation{}, fmt.Errorf("revocation record does not decode: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Revocation{}, err
	}
	if string(key) != r.Key() {
		return Revocation{}, fmt.Errorf("revocation %s: Kafka key does not match kind/subject", r.ID)
	}
	return r, nil
}

// NewID returns a UUIDv7 (RFC 9562): time-ordered, 74 random bits.
func NewID() string {
	// NewV7 fails only if crypto/rand does, which Go ≥ 1.24 never lets happen.
	return uuid.Must(uuid.NewV7()).String()
}
