package signals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/actiongate/actiongate/internal/identity"
)

// scimMediaType is RFC 7644 §8.1's media type; clients may also send
// application/json.
const scimMediaType = "application/scim+json"

// SCIMConfig configures a SCIMHandler for one SCIM client (one IdP's
// provisioning connector).
type SCIMConfig struct {
	// Name identifies the client in audit records (default "scim").
	Name string
	// Prefix is the path the handler is mounted under, e.g. "/scim/v2";
	// requests are matched against Prefix+"/Users" and Prefix+"/Users/{id}".
	Prefix string
	// BearerToken the client must present (required); compared in
	// constant time.
	BearerToken string
	// Issuer is the issuer of the gateway users this client provisions:
	// a revoked user is (Issuer, subject).
	Issuer string
	// SubjectAttribute is the User attribute that carries the IdP's
	// subject (the sub of the user's tokens): "externalId" (default) or
	// "userName". POST hands out its value as the SCIM id, so a later
	// /Users/{id} names the subject; when a PATCH/PUT body carries the
	// attribute, its value is used instead of {id}.
	SubjectAttribute string
	// Revoker and Auditor are required.
	Revoker Revoker
	Auditor Auditor
	// RevokeTimeout bounds one Revoke call (default 10s).
	RevokeTimeout time.Duration
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// Clock stamps Request.OccurredAt (default time.Now).
	Clock func() time.Time
}

// SCIMHandler is a SCIM 2.0 Users endpoint that turns deactivation and
// deletion into revocations. The gateway keeps no user store: reads and
// writes answer with a minimal User built from the request alone.
type SCIMHandler struct {
	cfg   SCIMConfig
	token [sha256.Size]byte

	accepted, acknowledged, rejected, failed atomic.Int64
}

// SCIMStats are counters since construction.
type SCIMStats struct {
	Accepted     int64 // revocations applied
	Acknowledged int64 // requests answered 2xx without a revocation
	Rejected     int64 // 4xx answers
	Failed       int64 // 5xx answers (Revoke failed)
}

// NewSCIMHandler validates cfg and builds the handler.
func NewSCIMHandler(cfg SCIMConfig) (*SCIMHandler, error) {
	switch {
	case cfg.BearerToken == "":
		return nil, errors.New("signals: SCIM bearer token is required")
	case cfg.Issuer == "":
		return nil, errors.New("signals: SCIM issuer is required (a user is issuer + subject)")
	case cfg.Revoker == nil || cfg.Auditor == nil:
		return nil, errors.New("signals: Revoker and Auditor are required")
	}
	switch cfg.SubjectAttribute {
	case "":
		cfg.SubjectAttribute = attrExternalID
	case attrExternalID, attrUserName:
	default:
		return nil, errors.New(`signals: SCIM SubjectAttribute must be "externalId" or "userName"`)
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.Name == "" {
		cfg.Name = "scim"
	}
	defaultDuration(&cfg.RevokeTimeout, 10*time.Second)
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &SCIMHandler{cfg: cfg, token: sha256.Sum256([]byte(cfg.BearerToken))}, nil
}

// Stats returns the handler's counters.
func (h *SCIMHandler) Stats() SCIMStats {
	return SCIMStats{Accepted: h.accepted.Load(), Acknowledged: h.acknowledged.Load(),
		Rejected: h.rejected.Load(), Failed: h.failed.Load()}
}

// scimCall is one request in flight.
type scimCall struct {
	w      http.ResponseWriter
	r      *http.Request
	id     string // request id, the EventID of a revocation
	userID string // {id} from the path, unescaped
}

func (h *SCIMHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &scimCall{w: w, r: r, id: newRequestID()}
	if serr := h.authenticate(r); serr != nil {
		h.refuse(c, serr, nil)
		return
	}
	collection, userID, ok := h.route(r.URL.EscapedPath())
	c.userID = userID
	switch {
	case !ok:
		h.refuse(c, &scimError{status: http.StatusNotFound, detail: "no such endpoint (only /Users is served)"}, nil)
	case collection && r.Method == http.MethodGet:
		h.list(c)
	case collection && r.Method == http.MethodPost:
		h.write(c, parseUser, "POST", http.StatusCreated)
	case !collection && r.Method == http.MethodGet:
		h.respondUser(c, http.StatusOK, c.userID, userChange{})
	case !collection && r.Method == http.MethodPatch:
		h.write(c, parsePatch, "PATCH", http.StatusOK)
	case !collection && r.Method == http.MethodPut:
		h.write(c, parseUser, "PUT", http.StatusOK)
	case !collection && r.Method == http.MethodDelete:
		h.delete(c)
	default:
		allow := "GET, POST"
		if !collection {
			allow = "GET, PATCH, PUT, DELETE"
		}
		w.Header().Set("Allow", allow)
		h.refuse(c, &scimError{status: http.StatusMethodNotAllowed, detail: "method not allowed here"}, nil)
	}
}

// authenticate: missing or wrong token are both 401 (RFC 7644 §3.12).
func (h *SCIMHandler) authenticate(r *http.Request) *scimError {
	tok, err := identity.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return &scimError{status: http.StatusUnauthorized, detail: "bearer token required"}
	}
	got := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(got[:], h.token[:]) != 1 {
		return &scimError{status: http.StatusUnauthorized, detail: "bearer token is not valid"}
	}
	return nil
}

// route matches Prefix/Users and Prefix/Users/{id} on the escaped path, so
// an id containing an encoded "/" stays one segment.
func (h *SCIMHandler) route(escaped string) (collection bool, userID string, ok bool) {
	rest, found := strings.CutPrefix(escaped, h.cfg.Prefix+"/Users")
	switch {
	case !found:
		return false, "", false
	case rest == "" || rest == "/":
		return true, "", true
	case rest[0] != '/' || strings.Contains(rest[1:], "/"):
		return false, "", false
	}
	id, err := url.PathUnescape(rest[1:])
	if err != nil || id == "" || len(id) > maxIdentifierLen {
		return false, "", false
	}
	return false, id, true
}

// write handles POST, PATCH and PUT: parse, revoke when the result is an
// inactive user, answer with the minimal resource.
func (h *SCIMHandler) write(c *scimCall, parse func([]byte) (userChange, *scimError), method string, status int) {
	body, serr := h.readBody(c.r)
	if serr != nil {
		h.refuse(c, serr, nil)
		return
	}
	change, serr := parse(body)
	if serr != nil {
		h.refuse(c, serr, nil)
		return
	}
	subject := change.attribute(h.cfg.SubjectAttribute)
	if subject == "" {
		if method == "POST" {
			h.refuse(c, badSCIM(scimInvalidValue, h.cfg.SubjectAttribute+" is required: it carries the user's subject"), nil)
			return
		}
		subject = c.userID
	}
	resourceID := c.userID
	if method == "POST" {
		resourceID = subject
	}
	if !change.deactivates() {
		h.acknowledged.Add(1)
		h.respondUser(c, status, resourceID, change)
		return
	}
	if !h.revoke(c, subject, EventSCIMDeactivated, "scim "+method+" active=false") {
		return
	}
	h.respondUser(c, status, resourceID, change)
}

func (h *SCIMHandler) delete(c *scimCall) {
	if !h.revoke(c, c.userID, EventSCIMDeleted, "scim DELETE") {
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// revoke calls the Revoker and, on failure, answers 500 so the client
// retries; it reports whether the caller should go on to answer.
func (h *SCIMHandler) revoke(c *scimCall, subject, eventType, reason string) bool {
	rq := Request{
		Target: User{Issuer: h.cfg.Issuer, Subject: subject}, Reason: reason, Source: SourceSCIM,
		Transmitter: h.cfg.Name, EventID: c.id, EventType: eventType, OccurredAt: h.cfg.Clock(),
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), h.cfg.RevokeTimeout)
	err := h.cfg.Revoker.Revoke(ctx, rq)
	cancel()
	if err != nil {
		h.refuse(c, &scimError{status: http.StatusInternalServerError,
			detail: "revocation could not be completed; retry"}, &rejectionContext{rq: rq, cause: err})
		return false
	}
	h.accepted.Add(1)
	h.cfg.Auditor.Accepted(c.r.Context(), rq)
	return true
}

// list answers a GET /Users query without a store: a filter
// `<SubjectAttribute> eq "v"` matches the one user whose id is v (so an
// IdP looking its user up before a PATCH finds it); every other query
// matches nothing (so the IdP creates the user with POST).
func (h *SCIMHandler) list(c *scimCall) {
	var resources []map[string]any
	if filter := c.r.URL.Query().Get("filter"); filter != "" {
		attr, value, serr := parseEqFilter(filter)
		if serr != nil {
			h.refuse(c, serr, nil)
			return
		}
		if strings.EqualFold(trimCorePrefix(attr), h.cfg.SubjectAttribute) {
			resources = append(resources, h.resource(value, userChange{}))
		}
	}
	h.acknowledged.Add(1)
	writeSCIM(c.w, http.StatusOK, map[string]any{
		"schemas": []string{schemaList}, "totalResults": len(resources), "startIndex": 1,
		"itemsPerPage": len(resources), "Resources": append([]map[string]any{}, resources...),
	})
}

// parseEqFilter reads the one filter form IdPs use to find a user:
// `attribute eq "value"` (RFC 7644 §3.4.2.2), operator case-insensitive.
func parseEqFilter(f string) (attr, value string, serr *scimError) {
	attr, rest, ok := strings.Cut(strings.TrimSpace(f), " ")
	rest = strings.TrimLeft(rest, " ")
	op, quoted, ok2 := strings.Cut(rest, " ")
	quoted = strings.TrimSpace(quoted)
	if !ok || !ok2 || !strings.EqualFold(op, "eq") || json.Unmarshal([]byte(quoted), &value) != nil {
		return "", "", badSCIM(scimInvalidFilter, `only filters of the form attribute eq "value" are supported`)
	}
	return attr, value, nil
}

func (h *SCIMHandler) readBody(r *http.Request) ([]byte, *scimError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (!strings.EqualFold(mt, scimMediaType) && !strings.EqualFold(mt, "application/json")) {
		return nil, badSCIM(scimInvalidSyntax, "Content-Type must be application/scim+json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, badSCIM(scimInvalidSyntax, "request body could not be read")
	}
	if int64(len(body)) > h.cfg.MaxBodyBytes {
		return nil, &scimError{status: http.StatusRequestEntityTooLarge, detail: "request body is too large"}
	}
	return body, nil
}

// resource is the minimal User the gateway can vouch for: the id and what
// the request itself said. It is not a stored record.
func (h *SCIMHandler) resource(id string, c userChange) map[string]any {
	res := map[string]any{
		"schemas": []string{schemaUser},
		"id":      id,
		"meta":    map[string]any{"resourceType": "User", "location": h.cfg.Prefix + "/Users/" + url.PathEscape(id)},
	}
	if c.userName != "" {
		res[attrUserName] = c.userName
	}
	if c.externalID != "" {
		res[attrExternalID] = c.externalID
	}
	if c.active != nil {
		res[attrActive] = *c.active
	}
	return res
}

func (h *SCIMHandler) respondUser(c *scimCall, status int, id string, change userChange) {
	res := h.resource(id, change)
	if status == http.StatusCreated {
		c.w.Header().Set("Location", h.cfg.Prefix+"/Users/"+url.PathEscape(id))
	}
	writeSCIM(c.w, status, res)
}

// rejectionContext carries what is known about a failed revocation.
type rejectionContext struct {
	rq    Request
	cause error
}

// refuse answers with a SCIM error and audits it.
func (h *SCIMHandler) refuse(c *scimCall, serr *scimError, rc *rejectionContext) {
	if serr.status >= 500 {
		h.failed.Add(1)
	} else {
		h.rejected.Add(1)
	}
	rej := Rejection{Source: SourceSCIM, Transmitter: h.cfg.Name, Status: serr.status, Code: serr.scimType,
		Reason: c.r.Method + " " + serr.detail, EventID: c.id, RemoteAddr: c.r.RemoteAddr}
	if rc != nil {
		rej.Reason += ": " + rc.cause.Error()
		rej.EventType, rej.Target = rc.rq.EventType, &rc.rq.Target
	}
	h.cfg.Auditor.Rejected(c.r.Context(), rej)
	if serr.status == http.StatusUnauthorized {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
	}
	body := map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(serr.status), "detail": serr.detail}
	if serr.scimType != "" {
		body["scimType"] = serr.scimType
	}
	writeSCIM(c.w, serr.status, body)
}

func writeSCIM(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", scimMediaType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "scim-" + hex.EncodeToString(b[:])
}
