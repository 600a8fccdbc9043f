package identity

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// The kinds of verification failure. Verify wraps exactly one of them, so
// callers branch with errors.Is; the sentinel's own text is safe to show a
// client, while the wrapped detail is for logs only. No error ever contains
// the token.
var (
	ErrMissing       = errors.New("no bearer token")
	ErrMalformed     = errors.New("malformed token")
	ErrExpired       = errors.New("token expired or not yet valid")
	ErrAudience      = errors.New("token was not issued for this resource")
	ErrUnknownIssuer = errors.New("token issuer is not trusted")
	ErrSignature     = errors.New("token signature is invalid")
	ErrNoAgent       = errors.New("token does not identify an agent")
	// ErrUnavailable means the issuer's keys could not be fetched, so the
	// token could not be checked at all: an outage, not the client's fault.
	ErrUnavailable = errors.New("token verification is temporarily unavailable")
)

var kinds = []error{
	ErrMissing, ErrMalformed, ErrExpired, ErrAudience,
	ErrUnknownIssuer, ErrSignature, ErrNoAgent, ErrUnavailable,
}

// kindError is a failure of one kind with log-only detail. Its Error text
// leads with the client-safe message so a log line reads naturally.
type kindError struct {
	kind   error
	detail string
	cause  error
}

func (e *kindError) Error() string {
	var b strings.Builder
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

func fail(kind error, detail string) error {
	return &kindError{kind: kind, detail: detail}
}

func failWith(kind error, detail string, cause error) error {
	return &kindError{kind: kind, detail: detail, cause: cause}
}

// PublicMessage is the client-safe text for err: the message of the kind it
// wraps, or a generic one for anything else.
func PublicMessage(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "token could not be verified"
}

// Challenge maps a Verify error to the HTTP status and WWW-Authenticate
// value a protected resource answers with (RFC 6750 §3, RFC 9728 §5.1, MCP
// authorization): no credentials → 401 without an error code; any invalid
// token → 401 invalid_token; an outage or an unknown error → 503 and no
// challenge, so the client does not start an OAuth flow over our failure.
// resourceMetadata is the gateway's public Protected Resource Metadata URL;
// empty leaves the parameter out.
func Challenge(err error, resourceMetadata string) (status int, wwwAuthenticate string) {
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, ""
	case errors.Is(err, ErrMissing):
		return http.StatusUnauthorized, challenge("", "", resourceMetadata)
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return http.StatusUnauthorized, challenge("invalid_token", k.Error(), resourceMetadata)
		}
	}
	return http.StatusServiceUnavailable, ""
}

func challenge(code, description, resourceMetadata string) string {
	var params []string
	if code != "" {
		params = append(params, "error="+strconv.Quote(code))
		params = append(params, "error_description="+strconv.Quote(description))
	}
	if resourceMetadata != "" {
		params = append(params, "resource_metadata="+strconv.Quote(resourceMetadata))
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}
