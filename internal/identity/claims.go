package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

// maxActDepth bounds a delegation chain; real chains are one to three deep.
const maxActDepth = 16

// maxUnixSeconds is the last second of year 9999: a larger exp/nbf/iat is
// not a date any issuer means.
const maxUnixSeconds = 253402300799

// jwtHeader is the JOSE header fields routing and policy look at.
type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// token is a compact JWS decoded but NOT yet verified: its header and
// issuer only choose the verifier and key; its claims are used only after
// go-oidc has checked the signature over exactly this payload segment.
type token struct {
	header jwtHeader
	claims map[string]json.RawMessage

	iss, sub, jti, azp, clientID string
	aud                          []string
	exp, nbf, iat                time.Time
}

// parseToken decodes a compact JWS and type-checks the registered claims
// (so a type error is reported as malformed, not as a bad signature).
func parseToken(raw string) (*token, error) {
	h, rest, ok := strings.Cut(raw, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || h == "" || p == "" || sig == "" || strings.Contains(sig, ".") {
		return nil, fail(ErrMalformed, "not a compact JWS (header.payload.signature)")
	}
	t := &token{}
	if err := decodeSegment(h, &t.header); err != nil {
		return nil, failWith(ErrMalformed, "JOSE header", err)
	}
	if len(t.header.Crit) > 0 {
		// No critical extension is understood here, and RFC 9068 forbids
		// the one that matters (b64:false, RFC 7797) in access tokens.
		return nil, fail(ErrMalformed, "token uses a critical header extension")
	}
	if err := decodeSegment(p, &t.claims); err != nil || t.claims == nil {
		return nil, failWith(ErrMalformed, "claims are not a JSON object", err)
	}
	if err := t.registered(); err != nil {
		return nil, err
	}
	return t, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (t *token) registered() error {
	var err error
	for _, s := range []struct {
		name string
		dst  *string
	}{{"iss", &t.iss}, {"sub", &t.sub}, {"jti", &t.jti}, {"azp", &t.azp}, {"client_id", &t.clientID}} {
		if *s.dst, err = stringClaim(t.claims, s.name); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &t.exp}, {"nbf", &t.nbf}, {"iat", &t.iat}} {
		if *d.dst, err = timeClaim(t.claims, d.name); err != nil {
			return err
		}
	}
	if t.aud, err = stringsClaim(t.claims, "aud"); err != nil {
		return err
	}
	if _, ok := t.claims["_claim_names"]; ok {
		return fail(ErrMalformed, "distributed claims are not accepted in access tokens")
	}
	if t.iss == "" {
		return fail(ErrMalformed, "token has no iss")
	}
	return nil
}

// present reports whether a claim is there and not JSON null.
func present(c map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	v, ok := c[name]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, true
}

func stringClaim(c map[string]json.RawMessage, name string) (string, error) {
	v, ok := present(c, name)
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fail(ErrMalformed, "claim "+name+" is not a string")
	}
	return s, nil
}

func timeClaim(c map[string]json.RawMessage, name string) (time.Time, error) {
	v, ok := present(c, name)
	if !ok {
		return time.Time{}, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f < 0 || f > maxUnixSeconds {
		return time.Time{}, fail(ErrMalformed, "claim "+name+" is not a NumericDate")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// stringsClaim reads a claim that is a string or an array of strings (aud
// per RFC 7519; groups as IdPs emit it).
func stringsClaim(c map[string]json.RawMessage, name string) ([]string, error) {
	v, ok := present(c, name)
	if !ok {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(v, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(v, &many); err != nil {
		return nil, fail(ErrMalformed, "claim "+name+" is not a string or an array of strings")
	}
	return many, nil
}

// actorChain reads the RFC 8693 act claim, outermost (current) actor
// first. Only the outermost actor may drive access control; the rest is
// for audit, but every link must still be well-formed.
func actorChain(raw json.RawMessage) ([]principal.Actor, error) {
	var chain []principal.Actor
	for depth := 0; ; depth++ {
		if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return chain, nil
		}
		if depth == maxActDepth {
			return nil, fail(ErrMalformed, "delegation chain is too deep")
		}
		var link map[string]json.RawMessage
		if err := json.Unmarshal(raw, &link); err != nil || link == nil {
			return nil, fail(ErrMalformed, "act claim is not an object")
		}
		sub, err := stringClaim(link, "sub")
		if err != nil {
			return nil, err
		}
		if sub == "" {
			if depth == 0 {
				return nil, fail(ErrNoAgent, "act claim has no sub")
			}
			return nil, fail(ErrMalformed, "nested act claim has no sub")
		}
		iss, err := stringClaim(link, "iss")
		if err != nil {
			return nil, err
		}
		chain = append(chain, principal.Actor{Subject: sub, Issuer: iss})
		raw = link["act"]
	}
}
