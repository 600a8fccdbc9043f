package mint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/actiongate/actiongate/internal/mcp"
)

// maxMCPBody bounds the body ToolCallScope reads to find the tool.
const maxMCPBody = 4 << 20

// MiddlewareConfig configures Middleware.
type MiddlewareConfig struct {
	// ResourceMetadata is this server's RFC 9728 Protected Resource
	// Metadata URL, put in WWW-Authenticate; empty leaves it out.
	ResourceMetadata string
	// RequiredScope returns the scope a request needs ("" for none), e.g.
	// ToolCallScope(server). nil checks the token without a scope. An
	// error answers 400.
	RequiredScope func(r *http.Request) (string, error)
	Logger        *slog.Logger
}

type claimsKey struct{}

// ClaimsFromContext returns the claims Middleware verified for this
// request.
func ClaimsFromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// Middleware guards an upstream MCP server: the request must carry, in
// Authorization: Bearer, a token v accepts with the scope the request
// needs. Failures answer as an OAuth resource server (RFC 6750 §3, MCP
// authorization): no token → 401 with a bare challenge; an invalid token →
// 401 invalid_token; a missing scope → 403 insufficient_scope; keys
// unavailable → 503 without a challenge. The token is never logged.
func Middleware(v *Verifier, cfg MiddlewareConfig, next http.Handler) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := bearerToken(r.Header.Values("Authorization"))
		if err != nil {
			writeChallenge(w, http.StatusBadRequest, "invalid_request", err.Error(), "", cfg.ResourceMetadata)
			return
		}
		if raw == "" {
			writeChallenge(w, http.StatusUnauthorized, "", "", "", cfg.ResourceMetadata)
			return
		}
		scope := ""
		if cfg.RequiredScope != nil {
			if scope, err = cfg.RequiredScope(r); err != nil {
				writeJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
				return
			}
		}
		claims, err := v.Verify(r.Context(), raw, scope)
		if err != nil {
			status, code := challengeFor(err)
			log.Info("mint: upstream token refused", "status", status, "error", err)
			if status == http.StatusServiceUnavailable {
				writeJSONError(w, status, "temporarily_unavailable", PublicMessage(err))
				return
			}
			writeChallenge(w, status, code, PublicMessage(err), scope, cfg.ResourceMetadata)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

func challengeFor(err error) (status int, code string) {
	switch {
	case errors.Is(err, ErrScope):
		return http.StatusForbidden, "insufficient_scope"
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, ""
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return http.StatusUnauthorized, "invalid_token"
		}
	}
	return http.StatusServiceUnavailable, ""
}

// bearerToken reads RFC 6750 §2.1: exactly one Authorization header,
// scheme Bearer (any case), one token68. No header is ("", nil).
func bearerToken(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errors.New("more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("authorization scheme must be Bearer")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || len(tok) > MaxTokenLen || !isToken68(tok) {
		return "", errors.New("malformed bearer token")
	}
	return tok, nil
}

func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

func writeChallenge(w http.ResponseWriter, status int, code, description, scope, resourceMetadata string) {
	var params []string
	if code != "" {
		params = append(params, "error="+strconv.Quote(code), "error_description="+strconv.Quote(description))
	}
	if scope != "" {
		params = append(params, "scope="+strconv.Quote(scope))
	}
	if resourceMetadata != "" {
		params = append(params, "resource_metadata="+strconv.Quote(resourceMetadata))
	}
	challenge := "Bearer"
	if len(params) > 0 {
		challenge += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if code == "" {
		code, description = "invalid_token", "a bearer token is required"
	}
	writeJSONError(w, status, code, description)
}

func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ToolCallScope is a RequiredScope for an upstream MCP server registered
// as server: a tools/call request needs the scope of the tool it calls;
// any other message needs none beyond a valid token for this audience.
// The body is parsed strictly (internal/mcp: duplicate keys, batches and
// malformed JSON are refused, so we read the tool the server will) and
// put back for the next handler.
func ToolCallScope(server string) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		if r.Method != http.MethodPost || r.Body == nil {
			return "", nil
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxMCPBody+1))
		r.Body.Close()
		if err != nil {
			return "", errors.New("reading the request body failed")
		}
		if len(body) > maxMCPBody {
			return "", fmt.Errorf("request body larger than %d bytes", maxMCPBody)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		msg, err := mcp.Parse(body, maxMCPBody)
		if err != nil {
			return "", errors.New("the body is not one well-formed JSON-RPC message")
		}
		if !msg.IsToolCall() {
			return "", nil
		}
		if !validTool(msg.ToolName) {
			return "", errors.New("tools/call names an invalid tool")
		}
		return Scope(server, msg.ToolName), nil
	}
}
