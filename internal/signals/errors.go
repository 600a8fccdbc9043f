package signals

import (
	"errors"
	"net/http"
)

// RFC 8935 §2.4 error codes.
const (
	ErrCodeInvalidRequest       = "invalid_request"
	ErrCodeInvalidKey           = "invalid_key"
	ErrCodeInvalidIssuer        = "invalid_issuer"
	ErrCodeInvalidAudience      = "invalid_audience"
	ErrCodeAuthenticationFailed = "authentication_failed"
	ErrCodeAccessDenied         = "access_denied"
)

// ErrUnknownUser is what a UserLookup returns when no gateway user has the
// identifier; the signal is then refused (400), not retried.
var ErrUnknownUser = errors.New("signals: no gateway user has this identifier")

// failure is a refusal or an outage with everything needed to answer and
// audit it. public goes to the peer; detail (which may name claims, but
// never a token) goes to the Auditor.
type failure struct {
	status int
	code   string
	public string
	detail string
	cause  error
	// retryAfter (seconds) is sent with 503 answers.
	retryAfter string
}

func (f *failure) Error() string {
	if f.cause != nil {
		return f.detail + ": " + f.cause.Error()
	}
	return f.detail
}

func (f *failure) Unwrap() error { return f.cause }

// refuse is a permanent refusal (400 unless status says otherwise): the
// transmitter must not retry the same SET.
func refuse(code, public, detail string) *failure {
	return &failure{status: http.StatusBadRequest, code: code, public: public, detail: detail}
}

// unavailable is a temporary failure (503): keys, a lookup or the Revoker
// could not answer. The transmitter retries; nothing was acknowledged.
func unavailable(public, detail string, cause error) *failure {
	return &failure{status: http.StatusServiceUnavailable, public: public, detail: detail, cause: cause, retryAfter: "5"}
}

// asFailure turns any error into a failure; an error that is not one is
// treated as an outage, so an unexpected error never acknowledges.
func asFailure(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	return unavailable("temporarily unable to process the event", "internal error", err)
}
