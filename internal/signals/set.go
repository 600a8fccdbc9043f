package signals

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJTILen bounds a jti kept in the replay cache.
const maxJTILen = 256

// maxUnixSeconds is the last second of year 9999.
const maxUnixSeconds = 253402300799

// setHeader is the JOSE header fields the checks look at.
type setHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// rawSET is a compact JWS split and decoded but NOT verified: its header
// chooses the key, and its claims are trusted only once the signature over
// exactly payload has been checked.
type rawSET struct {
	header  setHeader
	payload []byte
	claims  map[string]json.RawMessage
}

// setClaims are a SET's claims after every check but the signature.
type setClaims struct {
	iss    string
	jti    string
	iat    time.Time
	subID  json.RawMessage // top-level sub_id (SSF), nil when absent
	events map[string]json.RawMessage
}

// setPolicy is what one transmitter's SETs must satisfy.
type setPolicy struct {
	issuer   string
	audience string
	algs     []jose.SignatureAlgorithm
	legacy   bool          // accept a missing typ (pre-RFC 8417 §2.3 transmitters)
	maxAge   time.Duration // iat older than this is refused
	leeway   time.Duration // iat/exp clock skew
}

// decodeSET splits a compact JWS and decodes its header and claims.
func decodeSET(raw string) (*rawSET, error) {
	h, rest, ok := strings.Cut(raw, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || h == "" || p == "" || strings.Contains(sig, ".") {
		return nil, refuse(ErrCodeInvalidRequest, "body is not a compact JWS", "not header.payload.signature")
	}
	s := &rawSET{}
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || json.Unmarshal(hb, &s.header) != nil {
		return nil, refuse(ErrCodeInvalidRequest, "JOSE header is not base64url JSON", "JOSE header does not decode")
	}
	if s.payload, err = base64.RawURLEncoding.DecodeString(p); err != nil {
		return nil, refuse(ErrCodeInvalidRequest, "payload is not base64url", "payload does not decode")
	}
	if err := json.Unmarshal(s.payload, &s.claims); err != nil || s.claims == nil {
		return nil, refuse(ErrCodeInvalidRequest, "claims are not a JSON object", "claims are not a JSON object")
	}
	return s, nil
}

// jti returns the unverified jti for audit correlation ("" if unreadable).
func (s *rawSET) jti() string {
	if s == nil {
		return ""
	}
	v, err := member(s.claims, "jti")
	if err != nil || len(v) > maxJTILen {
		return ""
	}
	return v
}

// checkHeader applies the algorithm and type rules. A symmetric algorithm
// is refused outright: the JWKS is public, so an HS256 "signature" keyed
// with a public key proves nothing.
func (p setPolicy) checkHeader(h setHeader) error {
	if len(h.Crit) > 0 {
		return refuse(ErrCodeInvalidRequest, "critical header extensions are not supported", "JOSE header has crit")
	}
	switch {
	case h.Alg == "" || strings.EqualFold(h.Alg, "none"):
		return refuse(ErrCodeInvalidKey, "unsigned SETs are not accepted", "alg is none or missing")
	case strings.HasPrefix(strings.ToUpper(h.Alg), "HS"):
		return refuse(ErrCodeInvalidKey, "symmetric signature algorithms are not accepted", "alg "+quoteShort(h.Alg)+" is symmetric")
	case !slices.Contains(p.algs, jose.SignatureAlgorithm(h.Alg)):
		return refuse(ErrCodeInvalidKey, "signature algorithm not accepted", "alg "+quoteShort(h.Alg)+" is not allowed for this transmitter")
	}
	// RFC 7515 §4.1.9: the "application/" prefix may be omitted, and
	// media types compare case-insensitively.
	typ := strings.TrimPrefix(strings.ToLower(h.Typ), "application/")
	switch {
	case typ == "secevent+jwt":
		return nil
	case h.Typ == "" && p.legacy:
		return nil
	case h.Typ == "":
		return refuse(ErrCodeInvalidRequest, "typ must be secevent+jwt", "JOSE typ missing (RFC 8417 §2.3)")
	default:
		// An ID token or access token (typ JWT) must never be taken for
		// a SET (RFC 8417 §4.3), even when its signature is good.
		return refuse(ErrCodeInvalidRequest, "typ must be secevent+jwt", "JOSE typ "+quoteShort(h.Typ)+" is not secevent+jwt")
	}
}

// checkIssuer is done before the signature so a SET from a stranger costs
// no JWKS fetch.
func (p setPolicy) checkIssuer(c map[string]json.RawMessage) (string, error) {
	iss, err := member(c, "iss")
	if err != nil {
		return "", err
	}
	if iss != p.issuer {
		return "", refuse(ErrCodeInvalidIssuer, "issuer is not the configured transmitter", "iss "+quoteShort(iss)+" is not "+quoteShort(p.issuer))
	}
	return iss, nil
}

// checkClaims applies the RFC 8417 and SSF rules to the claims.
func (p setPolicy) checkClaims(c map[string]json.RawMessage, now time.Time) (setClaims, error) {
	var out setClaims
	var err error
	if out.iss, err = p.checkIssuer(c); err != nil {
		return out, err
	}
	if err := p.checkAudience(c); err != nil {
		return out, err
	}
	if out.iat, err = p.checkTimes(c, now); err != nil {
		return out, err
	}
	if out.jti, err = member(c, "jti"); err != nil {
		return out, err
	}
	if out.jti == "" || len(out.jti) > maxJTILen {
		return out, refuse(ErrCodeInvalidRequest, "jti is required", "jti missing or longer than 256")
	}
	raw, ok := present(c, "events")
	if !ok {
		return out, refuse(ErrCodeInvalidRequest, "events claim is required", "no events claim (not a SET)")
	}
	if err := json.Unmarshal(raw, &out.events); err != nil || len(out.events) == 0 {
		return out, refuse(ErrCodeInvalidRequest, "events must be a non-empty object", "events is not a non-empty JSON object")
	}
	for typ, payload := range out.events {
		var m map[string]json.RawMessage
		if json.Unmarshal(payload, &m) != nil || m == nil {
			return out, refuse(ErrCodeInvalidRequest, "event payload must be an object", "payload of "+quoteShort(typ)+" is not an object")
		}
	}
	out.subID, _ = present(c, "sub_id")
	return out, nil
}

func (p setPolicy) checkAudience(c map[string]json.RawMessage) error {
	raw, ok := present(c, "aud")
	if !ok {
		return refuse(ErrCodeInvalidAudience, "aud is required", "no aud claim")
	}
	var auds []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(raw, &auds) != nil {
		return refuse(ErrCodeInvalidRequest, "aud must be a string or an array of strings", "aud has the wrong type")
	}
	if !slices.Contains(auds, p.audience) {
		return refuse(ErrCodeInvalidAudience, "audience is not this receiver", "aud does not contain "+quoteShort(p.audience))
	}
	return nil
}

// checkTimes requires iat within [now-maxAge, now+leeway] and, when exp is
// present, now < exp+leeway. The maxAge bound is what lets the replay cache
// forget a jti: a SET older than it is refused whatever its jti.
func (p setPolicy) checkTimes(c map[string]json.RawMessage, now time.Time) (time.Time, error) {
	iat, ok, err := numericDate(c, "iat")
	if err != nil {
		return iat, err
	}
	switch {
	case !ok:
		return iat, refuse(ErrCodeInvalidRequest, "iat is required", "no iat claim")
	case iat.After(now.Add(p.leeway)):
		return iat, refuse(ErrCodeInvalidRequest, "iat is in the future", "iat "+iat.UTC().Format(time.RFC3339)+" is after now+leeway")
	case now.Sub(iat) > p.maxAge:
		return iat, refuse(ErrCodeInvalidRequest, "SET is too old", "iat "+iat.UTC().Format(time.RFC3339)+" is older than "+p.maxAge.String())
	}
	exp, ok, err := numericDate(c, "exp")
	if err != nil {
		return iat, err
	}
	if ok && !now.Before(exp.Add(p.leeway)) {
		return iat, refuse(ErrCodeInvalidRequest, "SET has expired", "exp "+exp.UTC().Format(time.RFC3339)+" has passed")
	}
	return iat, nil
}

func numericDate(c map[string]json.RawMessage, name string) (time.Time, bool, error) {
	raw, ok := present(c, name)
	if !ok {
		return time.Time{}, false, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 || f > maxUnixSeconds {
		return time.Time{}, false, refuse(ErrCodeInvalidRequest, name+" is not a NumericDate", name+" is not a NumericDate")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}
