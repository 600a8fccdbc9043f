package signals

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/actiongate/actiongate/internal/identity"
)

// secEventMediaType is the RFC 8417 §7.2 media type of a pushed SET.
const secEventMediaType = "application/secevent+jwt"

// SSFReceiver is the RFC 8935 push endpoint for one transmitter: POST a
// SET, get 202 once every revocation it asks for is in force. It is
// immutable after NewSSFReceiver (apart from its caches) and safe for
// concurrent use.
type SSFReceiver struct {
	cfg      SSFConfig
	policy   setPolicy
	subjects subjectPolicy
	keys     *keyStore
	replay   *replayCache
	token    [sha256.Size]byte // SHA-256 of the expected bearer token

	accepted, rejected, failed, ignored atomic.Int64
}

// SSFStats are counters since construction.
type SSFStats struct {
	Accepted      int64 // revocations applied (Revoke returned nil)
	Rejected      int64 // requests refused with a 4xx
	Failed        int64 // requests answered 5xx (keys, lookup, replay cache or Revoker unavailable)
	IgnoredEvents int64 // events of types not handled, acknowledged with 202
	JWKSFetches   int64
	ReplayEntries int
}

// NewSSFReceiver validates cfg and builds the receiver. The JWKS is fetched
// on the first SET, not here, so a transmitter being down does not stop the
// gateway starting; SETs are answered 503 until its keys can be had.
func NewSSFReceiver(cfg SSFConfig) (*SSFReceiver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := cfg.Transmitter
	r := &SSFReceiver{
		cfg: cfg,
		policy: setPolicy{issuer: t.Issuer, audience: t.Audience, algs: sigAlgs(t.Algorithms),
			legacy: t.Legacy, maxAge: cfg.MaxAge, leeway: cfg.Leeway},
		subjects: subjectPolicy{issuers: t.SubjectIssuers, opaqueIssuer: t.OpaqueIssuer, lookup: cfg.Users},
		keys: &keyStore{url: t.JWKSURL, client: cfg.HTTPClient, clock: cfg.Clock, refreshEvery: cfg.KeyRefreshInterval,
			maxAge: cfg.KeyMaxAge, minRefetch: cfg.MinKeyRefetchInterval, log: cfg.Logger},
		replay: newReplayCache(cfg.ReplayCacheSize),
		token:  sha256.Sum256([]byte(t.BearerToken)),
	}
	return r, nil
}

// Stats returns the receiver's counters.
func (r *SSFReceiver) Stats() SSFStats {
	return SSFStats{
		Accepted: r.accepted.Load(), Rejected: r.rejected.Load(), Failed: r.failed.Load(),
		IgnoredEvents: r.ignored.Load(), JWKSFetches: r.keys.fetches.Load(), ReplayEntries: r.replay.len(),
	}
}

// ServeHTTP handles one push. Order: transmitter authentication, media
// type, SET checks that need no key, signature, replay, subjects, Revoke.
func (r *SSFReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	var set *rawSET
	reqs, jti, err := r.receive(req, &set)
	if err != nil {
		r.reject(ctx, w, req, err, set.jti(), nil)
		return
	}
	for i, rq := range reqs {
		if err := r.revoke(ctx, rq); err != nil {
			r.replay.release(jti) // the retry must be accepted
			r.reject(ctx, w, req, err, jti, &reqs[i])
			return
		}
		r.accepted.Add(1)
		r.cfg.Auditor.Accepted(ctx, rq)
	}
	w.WriteHeader(http.StatusAccepted)
}

// receive runs every check and returns the revocations to apply, with the
// SET's jti reserved in the replay cache.
func (r *SSFReceiver) receive(req *http.Request, setOut **rawSET) ([]Request, string, error) {
	if req.Method != http.MethodPost {
		return nil, "", &failure{status: http.StatusMethodNotAllowed, code: ErrCodeInvalidRequest,
			public: "use POST", detail: "method " + quoteShort(req.Method) + " on the SET push endpoint"}
	}
	if err := r.authenticate(req); err != nil {
		return nil, "", err
	}
	raw, err := r.readBody(req)
	if err != nil {
		return nil, "", err
	}
	set, err := decodeSET(raw)
	if err != nil {
		return nil, "", err
	}
	*setOut = set
	claims, err := r.verify(req.Context(), raw, set)
	if err != nil {
		return nil, "", err
	}
	plans, ignored, err := planEvents(claims, r.policy.legacy)
	if err != nil {
		return nil, "", err
	}
	reqs, err := r.resolve(req.Context(), claims.jti, plans)
	if err != nil {
		return nil, "", err
	}
	now := r.cfg.Clock()
	switch r.replay.reserve(claims.jti, claims.iat.Add(r.cfg.MaxAge+r.cfg.Leeway), now) {
	case replayed:
		return nil, "", refuse(ErrCodeInvalidRequest, "jti has already been received", "replayed jti")
	case cacheFull:
		return nil, "", unavailable("receiver is busy; retry later", "replay cache is full of unexpired jti", nil)
	}
	r.ignored.Add(int64(len(ignored)))
	return reqs, claims.jti, nil
}

// authenticate checks the transmitter's bearer token when one is
// configured: missing → 401, wrong → 403. Both digests are fixed-length,
// so the comparison reveals neither the token nor its length.
func (r *SSFReceiver) authenticate(req *http.Request) error {
	if r.cfg.Transmitter.BearerToken == "" {
		return nil
	}
	tok, err := identity.BearerToken(req.Header.Get("Authorization"))
	if errors.Is(err, identity.ErrMissing) {
		return &failure{status: http.StatusUnauthorized, code: ErrCodeAuthenticationFailed,
			public: "transmitter authentication required", detail: "no bearer token"}
	}
	got := sha256.Sum256([]byte(tok))
	if err != nil || subtle.ConstantTimeCompare(got[:], r.token[:]) != 1 {
		return &failure{status: http.StatusForbidden, code: ErrCodeAccessDenied,
			public: "transmitter is not authorized", detail: "bearer token does not match the configured one"}
	}
	return nil
}

func (r *SSFReceiver) readBody(req *http.Request) (string, error) {
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, secEventMediaType) {
		return "", refuse(ErrCodeInvalidRequest, "Content-Type must be "+secEventMediaType,
			"Content-Type "+quoteShort(req.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, r.cfg.MaxBodyBytes+1))
	if err != nil {
		return "", refuse(ErrCodeInvalidRequest, "request body could not be read", "reading the body failed")
	}
	if int64(len(body)) > r.cfg.MaxBodyBytes {
		return "", refuse(ErrCodeInvalidRequest, "SET is too large", "body exceeds MaxBodyBytes")
	}
	return string(bytes.TrimSpace(body)), nil
}

// verify checks everything about the SET itself. The claims are checked
// before the signature (a forged or misdirected SET costs no key fetch),
// but nothing is trusted until the signature covers exactly those claims.
func (r *SSFReceiver) verify(ctx context.Context, raw string, set *rawSET) (setClaims, error) {
	if err := r.policy.checkHeader(set.header); err != nil {
		return setClaims{}, err
	}
	claims, err := r.policy.checkClaims(set.claims, r.cfg.Clock())
	if err != nil {
		return setClaims{}, err
	}
	payload, err := r.keys.verifySignature(ctx, raw, set.header, r.policy.algs)
	if err != nil {
		return setClaims{}, err
	}
	if !bytes.Equal(payload, set.payload) {
		return setClaims{}, refuse(ErrCodeInvalidRequest, "body is not a valid JWS", "verified payload differs from the decoded one")
	}
	return claims, nil
}

// resolve maps each planned revocation's subject to a gateway user.
func (r *SSFReceiver) resolve(ctx context.Context, jti string, plans []plan) ([]Request, error) {
	reqs := make([]Request, 0, len(plans))
	for _, p := range plans {
		u, err := r.subjects.resolve(ctx, p.subject)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, Request{
			Target: u, Reason: p.reason, Source: SourceSSF, Transmitter: r.cfg.Transmitter.Name,
			EventID: jti, EventType: p.eventType, OccurredAt: p.occurredAt,
		})
	}
	return reqs, nil
}

func (r *SSFReceiver) revoke(ctx context.Context, rq Request) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RevokeTimeout)
	defer cancel()
	if err := r.cfg.Revoker.Revoke(ctx, rq); err != nil {
		return unavailable("revocation could not be completed; retry", "Revoke failed", err)
	}
	return nil
}

// reject answers and audits a refusal or failure.
func (r *SSFReceiver) reject(ctx context.Context, w http.ResponseWriter, req *http.Request, err error, jti string, rq *Request) {
	f := asFailure(err)
	if f.status >= 500 {
		r.failed.Add(1)
	} else {
		r.rejected.Add(1)
	}
	rej := Rejection{Source: SourceSSF, Transmitter: r.cfg.Transmitter.Name, Status: f.status, Code: f.code,
		Reason: f.Error(), EventID: jti, RemoteAddr: req.RemoteAddr}
	if rq != nil {
		rej.EventType, rej.Target = rq.EventType, &rq.Target
	}
	r.cfg.Auditor.Rejected(ctx, rej)
	writeSSFError(w, f)
}

// writeSSFError writes the RFC 8935 §2.3 error response. 5xx answers carry
// a description but no err code (RFC 8935 defines codes only for 400).
func writeSSFError(w http.ResponseWriter, f *failure) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch f.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="ssf"`)
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodPost)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", f.retryAfter)
	}
	body := map[string]string{"description": f.public}
	if f.status < 500 && f.code != "" {
		body["err"] = f.code
	}
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(body)
}
