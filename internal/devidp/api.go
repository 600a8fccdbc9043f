package devidp

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// APIUser is the body of GET APIUserPath, shaped like GitHub's GET /user.
type APIUser struct {
	Login    string   `json:"login"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// apiUser is the protected API an upstream tool server calls with the
// token the gateway injected. It accepts "Bearer <t>" and GitHub's
// "token <t>", and only a live access token issued to an App: an agent's
// JWT, a refresh token, a revoked or expired token all get 401.
type apiUser struct {
	store  *storage
	crypto op.Crypto
}

func (a apiUser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	tok, ok := a.authenticate(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Bad credentials"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-OAuth-Scopes", strings.Join(tok.scopes, ", "))
	_ = json.NewEncoder(w).Encode(APIUser{Login: tok.subject, ClientID: tok.clientID, Scopes: tok.scopes})
}

func (a apiUser) authenticate(header string) (issuedToken, bool) {
	scheme, raw, ok := strings.Cut(header, " ")
	if !ok || raw == "" || !(strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) {
		return issuedToken{}, false
	}
	// op's opaque access token is its AEAD encryption of "<id>:<subject>".
	plain, err := a.crypto.Decrypt(strings.TrimSpace(raw))
	if err != nil {
		return issuedToken{}, false
	}
	id, subject, ok := strings.Cut(plain, ":")
	if !ok {
		return issuedToken{}, false
	}
	return a.store.activeAccess(id, subject)
}
