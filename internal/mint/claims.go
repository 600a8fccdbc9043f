package mint

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

// maxActors bounds a delegation chain; real chains are one to three deep.
const maxActors = 16

// Claims are the verified contents of a minted token. Claim names on the
// wire (docs/credentials.md has the table):
//
//	iss sub aud exp nbf iat jti scope client_id act tenant task decision_id
type Claims struct {
	Issuer                         string
	Subject                        string   // the user
	Audience                       []string // the tool server's resource identifier (one, as minted)
	ExpiresAt, NotBefore, IssuedAt time.Time
	ID                             string // jti
	Scope                          string // space-separated; as minted, exactly one tool scope
	ClientID                       string // the agent: the outermost actor
	// Actors is the act chain, outermost (current) actor first. Only the
	// first may be used for access control (RFC 8693 §4.1); the rest are
	// for attribution.
	Actors     []principal.Actor
	Tenant     string
	Task       string
	DecisionID string
}

// HasScope reports whether the token grants scope s.
func (c Claims) HasScope(s string) bool { return hasScope(c.Scope, s) }

// act is one level of the RFC 8693 §4.1 actor claim.
type act struct {
	Sub string `json:"sub"`
	Iss string `json:"iss,omitempty"`
	Act *act   `json:"act,omitempty"`
}

// wireClaims is the JSON payload exactly as minted.
type wireClaims struct {
	Iss        string   `json:"iss"`
	Sub        string   `json:"sub"`
	Aud        audience `json:"aud"`
	Exp        int64    `json:"exp"`
	Nbf        int64    `json:"nbf"`
	Iat        int64    `json:"iat"`
	Jti        string   `json:"jti"`
	Scope      string   `json:"scope"`
	ClientID   string   `json:"client_id"`
	Act        *act     `json:"act,omitempty"`
	Tenant     string   `json:"tenant,omitempty"`
	Task       string   `json:"task,omitempty"`
	DecisionID string   `json:"decision_id,omitempty"`
}

// audience is minted as one string (RFC 7519 §4.1.3 allows that) and read
// as a string or an array of strings.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = list
	return nil
}

// actChain nests actors, outermost first, into an act claim.
func actChain(actors []principal.Actor) *act {
	var a *act
	for i := len(actors) - 1; i >= 0; i-- {
		a = &act{Sub: actors[i].Subject, Iss: actors[i].Issuer, Act: a}
	}
	return a
}

// claims converts a verified payload into Claims, requiring what every
// minted token carries.
func (w *wireClaims) claims() (Claims, error) {
	c := Claims{
		Issuer: w.Iss, Subject: w.Sub, Audience: w.Aud, ID: w.Jti, Scope: w.Scope, ClientID: w.ClientID,
		Tenant: w.Tenant, Task: w.Task, DecisionID: w.DecisionID,
		ExpiresAt: time.Unix(w.Exp, 0), NotBefore: time.Unix(w.Nbf, 0), IssuedAt: time.Unix(w.Iat, 0),
	}
	switch {
	case w.Iss == "", w.Sub == "", len(w.Aud) == 0, w.Jti == "", w.ClientID == "":
		return Claims{}, fail(ErrMalformed, "iss, sub, aud, jti and client_id are required")
	case w.Exp == 0 || w.Iat == 0:
		return Claims{}, fail(ErrMalformed, "exp and iat are required")
	}
	if w.Nbf == 0 {
		c.NotBefore = time.Time{}
	}
	for a := w.Act; a != nil; a = a.Act {
		if len(c.Actors) == maxActors {
			return Claims{}, fail(ErrMalformed, "act chain too deep")
		}
		if a.Sub == "" {
			return Claims{}, fail(ErrMalformed, "act without sub")
		}
		c.Actors = append(c.Actors, principal.Actor{Subject: a.Sub, Issuer: a.Iss})
	}
	if len(c.Actors) > 0 && c.Actors[0].Subject != c.ClientID {
		return Claims{}, fail(ErrMalformed, "client_id is not the outermost actor")
	}
	return c, nil
}

// actorsOrClient is the chain revocation is checked against: the act
// chain, or the client alone for a token without one.
func (c Claims) actorsOrClient() []principal.Actor {
	if len(c.Actors) > 0 {
		return c.Actors
	}
	return []principal.Actor{{Subject: c.ClientID}}
}
