package mint

import (
	"errors"
	"strings"
)

// The kinds of failure. Every error this package returns from Mint, Verify
// and the key sources wraps exactly one of them, so callers branch with
// errors.Is. A kind's own text is safe to show a client; the wrapped detail
// is for logs. No error ever contains a token or key material.
var (
	// ErrMalformed: not a compact JWS, undecodable header or claims, a
	// claim of the wrong type, or a required claim missing.
	ErrMalformed = errors.New("malformed token")
	// ErrTokenType: the JOSE typ is not at+jwt (RFC 9068 §4), e.g. an ID
	// token offered as an access token.
	ErrTokenType = errors.New("token is not an access token (typ must be at+jwt)")
	// ErrBadSignature: unsupported alg, unknown kid, or a signature that
	// does not verify.
	ErrBadSignature = errors.New("token signature is invalid")
	// ErrWrongIssuer: iss is not the expected issuer.
	ErrWrongIssuer = errors.New("token was not issued by the expected issuer")
	// ErrWrongAudience: aud does not name this resource.
	ErrWrongAudience = errors.New("token was not issued for this resource")
	// ErrExpired: past exp, or before nbf / iat (with leeway).
	ErrExpired = errors.New("token expired or not yet valid")
	// ErrScope: the token does not carry the scope the request needs.
	ErrScope = errors.New("token does not grant the required scope")
	// ErrRevoked: the user or an agent of the chain has been revoked.
	ErrRevoked = errors.New("the user or agent has been revoked")
	// ErrInvalidGrant: a Grant that cannot be minted (missing subject or
	// agent, bad server or tool name, bad audience).
	ErrInvalidGrant = errors.New("grant cannot be minted")
	// ErrLifetime: the requested lifetime exceeds the configured maximum.
	ErrLifetime = errors.New("requested token lifetime exceeds the maximum")
	// ErrNoSigningKey: the key ring has no key active now.
	ErrNoSigningKey = errors.New("no signing key is active")
	// ErrUnavailable: keys could not be fetched, so nothing could be
	// checked: an outage, not the client's fault (503, never 401).
	ErrUnavailable = errors.New("token verification is temporarily unavailable")
)

var kinds = []error{
	ErrMalformed, ErrTokenType, ErrBadSignature, ErrWrongIssuer, ErrWrongAudience, ErrExpired,
	ErrScope, ErrRevoked, ErrInvalidGrant, ErrLifetime, ErrNoSigningKey, ErrUnavailable,
}

// kindError is a failure of one kind with log-only detail.
type kindError struct {
	kind   error
	detail string
	cause  error
}

func (e *kindError) Error() string {
	var b strings.Builder
	b.WriteString("mint: ")
	b.WriteString(e.kind.Error())
	if e.detail != "" {
		b.WriteString(": ")
		b.WriteString(e.detail)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *kindError) Is(target error) bool { return target == e.kind }

func (e *kindError) Unwrap() error { return e.cause }

func fail(kind error, detail string) error { return &kindError{kind: kind, detail: detail} }

func failWith(kind error, detail string, cause error) error {
	return &kindError{kind: kind, detail: detail, cause: cause}
}

// PublicMessage is the client-safe text for err: the message of the kind
// it wraps, or a generic one.
func PublicMessage(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "token could not be verified"
}
