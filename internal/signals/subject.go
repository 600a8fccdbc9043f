package signals

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Subject identifier formats (RFC 9493 §3, SSF 1.0 §3.2 for complex).
const (
	formatIssSub  = "iss_sub"
	formatEmail   = "email"
	formatOpaque  = "opaque"
	formatAliases = "aliases"
	formatComplex = "complex"
)

// errUnsupportedFormat marks an identifier in a format that cannot name a
// gateway user (account, did, phone_number, uri, or unknown).
var errUnsupportedFormat = errors.New("unsupported subject format")

// maxIdentifierLen bounds any one identifier; real ones are short.
const maxIdentifierLen = 1024

// subjectID is a parsed subject identifier. Only the formats that can name
// a gateway user are kept; anything else is refused at parse time.
type subjectID struct {
	Format  string
	Iss     string      // iss_sub
	Sub     string      // iss_sub
	Email   string      // email
	ID      string      // opaque
	Aliases []subjectID // aliases: several identifiers of one subject
}

// UserLookup resolves an email address to the gateway user it belongs to.
// It returns ErrUnknownUser when there is none (the signal is refused);
// any other error is an outage and the transmitter is asked to retry.
type UserLookup interface {
	LookupEmail(ctx context.Context, email string) (User, error)
}

// UserLookupFunc adapts a function to UserLookup.
type UserLookupFunc func(ctx context.Context, email string) (User, error)

func (f UserLookupFunc) LookupEmail(ctx context.Context, email string) (User, error) {
	return f(ctx, email)
}

// parseSubject reads an RFC 9493 subject identifier. A complex subject
// (SSF) is reduced to its user member: the gateway revokes people, so a
// session-, device- or tenant-only subject names nobody it can revoke.
// legacy also accepts the RISC draft spelling {"subject_type":"iss-sub"}.
func parseSubject(raw json.RawMessage, legacy bool) (subjectID, error) {
	return parseSubjectAt(raw, legacy, 0)
}

func parseSubjectAt(raw json.RawMessage, legacy bool, depth int) (subjectID, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return subjectID{}, refuse(ErrCodeInvalidRequest, "subject identifier is not an object", "subject identifier is not a JSON object")
	}
	format, err := member(m, "format")
	if err != nil {
		return subjectID{}, err
	}
	if format == "" && legacy {
		st, err := member(m, "subject_type")
		if err != nil {
			return subjectID{}, err
		}
		format = strings.ReplaceAll(st, "-", "_")
	}
	switch format {
	case formatIssSub:
		return required(formatIssSub, m, "iss", "sub")
	case formatEmail:
		return required(formatEmail, m, "email")
	case formatOpaque:
		return required(formatOpaque, m, "id")
	case formatAliases:
		if depth > 0 {
			return subjectID{}, refuse(ErrCodeInvalidRequest, "nested aliases subject", "aliases inside aliases or complex (RFC 9493 §3.2.7)")
		}
		return parseAliases(m, legacy)
	case formatComplex:
		if depth > 0 {
			return subjectID{}, refuse(ErrCodeInvalidRequest, "nested complex subject", "complex subject inside another subject")
		}
		user, ok := present(m, "user")
		if !ok {
			return subjectID{}, refuse(ErrCodeInvalidRequest, "complex subject names no user",
				"complex subject has no user member (session/device/tenant-only subjects are not revocable here)")
		}
		return parseSubjectAt(user, legacy, depth+1)
	case "":
		return subjectID{}, refuse(ErrCodeInvalidRequest, "subject identifier has no format", "subject identifier has no format")
	default:
		f := refuse(ErrCodeInvalidRequest, "unsupported subject identifier format",
			"subject format "+quoteShort(format)+" cannot name a gateway user (iss_sub, email, opaque, aliases, complex)")
		f.cause = errUnsupportedFormat
		return subjectID{}, f
	}
}

func parseAliases(m map[string]json.RawMessage, legacy bool) (subjectID, error) {
	var ids []json.RawMessage
	raw, _ := present(m, "identifiers")
	if err := json.Unmarshal(raw, &ids); err != nil || len(ids) == 0 || len(ids) > 16 {
		return subjectID{}, refuse(ErrCodeInvalidRequest, "aliases subject needs 1 to 16 identifiers", "aliases identifiers missing, not an array, or too many")
	}
	s := subjectID{Format: formatAliases}
	for _, id := range ids {
		a, err := parseSubjectAt(id, legacy, 1)
		if err != nil {
			// One alias in a format we do not read must not hide the
			// others (RFC 9493: all aliases name the same subject).
			if errors.Is(err, errUnsupportedFormat) {
				continue
			}
			return subjectID{}, err
		}
		s.Aliases = append(s.Aliases, a)
	}
	if len(s.Aliases) == 0 {
		return subjectID{}, refuse(ErrCodeInvalidRequest, "unsupported subject identifier format", "no alias is in a format that names a gateway user")
	}
	return s, nil
}

// required builds a simple identifier whose members must all be present,
// non-empty strings.
func required(format string, m map[string]json.RawMessage, names ...string) (subjectID, error) {
	vals := make([]string, len(names))
	for i, n := range names {
		v, err := member(m, n)
		if err != nil {
			return subjectID{}, err
		}
		if v == "" {
			return subjectID{}, refuse(ErrCodeInvalidRequest, format+" subject is missing "+n, format+" subject has no "+n)
		}
		if len(v) > maxIdentifierLen {
			return subjectID{}, refuse(ErrCodeInvalidRequest, format+" subject "+n+" is too long", format+" subject "+n+" exceeds the length bound")
		}
		vals[i] = v
	}
	s := subjectID{Format: format}
	switch format {
	case formatIssSub:
		s.Iss, s.Sub = vals[0], vals[1]
	case formatEmail:
		s.Email = vals[0]
	case formatOpaque:
		s.ID = vals[0]
	}
	return s, nil
}

// member reads an optional string member; a non-string is malformed.
func member(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := present(m, name)
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", refuse(ErrCodeInvalidRequest, "member "+name+" is not a string", "member "+name+" is not a string")
	}
	return s, nil
}

func present(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	v, ok := m[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// subjectPolicy maps identifiers to gateway users for one transmitter.
type subjectPolicy struct {
	// issuers an iss_sub subject may name: a transmitter speaks only for
	// the users of the issuers it is trusted for.
	issuers []string
	// opaqueIssuer pairs an opaque id with the issuer whose sub it is;
	// empty refuses opaque subjects.
	opaqueIssuer string
	lookup       UserLookup
}

// resolve maps a subject to the gateway user. For aliases the first
// identifier that resolves wins; if none does, an outage outranks a
// refusal so the transmitter retries rather than the signal being lost.
func (p subjectPolicy) resolve(ctx context.Context, s subjectID) (User, error) {
	switch s.Format {
	case formatIssSub:
		if !slices.Contains(p.issuers, s.Iss) {
			return User{}, refuse(ErrCodeAccessDenied, "transmitter may not signal about users of this issuer",
				"iss_sub names issuer "+quoteShort(s.Iss)+", not one this transmitter is trusted for")
		}
		return User{Issuer: s.Iss, Subject: s.Sub}, nil
	case formatOpaque:
		if p.opaqueIssuer == "" {
			return User{}, refuse(ErrCodeInvalidRequest, "opaque subjects are not accepted from this transmitter",
				"opaque subject but no opaque issuer configured")
		}
		return User{Issuer: p.opaqueIssuer, Subject: s.ID}, nil
	case formatEmail:
		return p.resolveEmail(ctx, s.Email)
	case formatAliases:
		var firstErr, outage error
		for _, a := range s.Aliases {
			u, err := p.resolve(ctx, a)
			if err == nil {
				return u, nil
			}
			if firstErr == nil {
				firstErr = err
			}
			if f := asFailure(err); f.status >= 500 && outage == nil {
				outage = err
			}
		}
		if outage != nil {
			return User{}, outage
		}
		return User{}, firstErr
	}
	return User{}, refuse(ErrCodeInvalidRequest, "unsupported subject identifier format", "unresolvable subject format "+quoteShort(s.Format))
}

func (p subjectPolicy) resolveEmail(ctx context.Context, email string) (User, error) {
	if p.lookup == nil {
		return User{}, refuse(ErrCodeInvalidRequest, "email subjects are not accepted from this transmitter",
			"email subject but no user lookup configured")
	}
	u, err := p.lookup.LookupEmail(ctx, email)
	switch {
	case errors.Is(err, ErrUnknownUser):
		return User{}, refuse(ErrCodeInvalidRequest, "subject is not a known user", "email subject does not resolve to a gateway user")
	case err != nil:
		return User{}, unavailable("temporarily unable to resolve the subject", "email lookup failed", err)
	case u.Issuer == "" || u.Subject == "":
		return User{}, unavailable("temporarily unable to resolve the subject", "email lookup returned an incomplete user", nil)
	}
	return u, nil
}

// quoteShort quotes s for a detail message, cut to a readable length.
func quoteShort(s string) string {
	const max = 96
	if len(s) > max {
		s = s[:max] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}
