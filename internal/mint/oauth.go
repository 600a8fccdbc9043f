package mint

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
)

// maxFormBytes bounds a token-exchange or introspection request body.
const maxFormBytes = 64 << 10

// oauthError is an RFC 6749 §5.2 error response. description is fixed
// text chosen here: it never contains a parameter value, so no token can
// be echoed.
type oauthError struct {
	status      int
	code        string
	description string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func badRequest(code, description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, description: description}
}

// The RFC 6749 §5.2 / RFC 8693 §2.2.2 / RFC 8707 error codes used here.
const (
	codeInvalidRequest       = "invalid_request"
	codeInvalidClient        = "invalid_client"
	codeInvalidGrant         = "invalid_grant"
	codeUnauthorizedClient   = "unauthorized_client"
	codeUnsupportedGrantType = "unsupported_grant_type"
	codeInvalidScope         = "invalid_scope"
	codeInvalidTarget        = "invalid_target"
	codeServerError          = "server_error"
	codeUnavailable          = "temporarily_unavailable"
)

func (e *oauthError) write(w http.ResponseWriter) {
	if e.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	writeJSONError(w, e.status, e.code, e.description)
}

// readForm applies what every OAuth endpoint here requires of a request:
// POST, application/x-www-form-urlencoded, a bounded body, and nothing in
// the query string (a token in a URL ends up in access logs). It returns
// the body's parameters only.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: codeInvalidRequest, description: "use POST"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest(codeInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	if r.URL.RawQuery != "" {
		return nil, badRequest(codeInvalidRequest, "parameters must be sent in the body, not the URL")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &oauthError{status: http.StatusRequestEntityTooLarge, code: codeInvalidRequest, description: "request body too large"}
		}
		return nil, badRequest(codeInvalidRequest, "the body is not a valid form")
	}
	return r.PostForm, nil
}

// single returns the one value of a parameter that may not repeat
// (RFC 6749 §3.2): "" when absent, an error when repeated.
func single(form url.Values, name string) (string, *oauthError) {
	switch v := form[name]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	default:
		return "", badRequest(codeInvalidRequest, "parameter "+name+" is repeated")
	}
}

// writeJSON writes a success body that carries or describes a credential:
// never cached (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, codeServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
