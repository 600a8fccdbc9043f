package identity

import (
	"slices"
	"time"

	"github.com/actiongate/actiongate/internal/principal"
)

// derive checks the verified token's time window and audience and builds
// the principal from its claims.
func (v *Verifier) derive(t *token, now time.Time) (principal.Principal, error) {
	if err := v.checkTimes(t, now); err != nil {
		return principal.Principal{}, err
	}
	if !v.audienceOK(t.aud) {
		return principal.Principal{}, fail(ErrAudience, "aud contains none of the gateway's audiences")
	}
	if t.sub == "" {
		return principal.Principal{}, fail(ErrMalformed, "token has no sub")
	}
	chain, err := actorChain(t.claims["act"])
	if err != nil {
		return principal.Principal{}, err
	}
	p := principal.Principal{
		Issuer:    t.iss,
		User:      t.sub,
		Chain:     chain,
		TokenID:   t.jti,
		ExpiresAt: t.exp,
	}
	// RFC 8693 §4.1: the outermost act is the party acting now; without
	// delegation the OAuth client is (azp, else client_id per RFC 9068).
	switch {
	case len(chain) > 0:
		p.Agent = chain[0].Subject
	case t.azp != "":
		p.Agent = t.azp
	default:
		p.Agent = t.clientID
	}
	if p.Agent == "" {
		return principal.Principal{}, fail(ErrNoAgent, "no act, azp or client_id claim")
	}
	if p.Tenant, err = stringClaim(t.claims, v.cfg.TenantClaim); err != nil {
		return principal.Principal{}, err
	}
	if p.Task, err = stringClaim(t.claims, v.cfg.TaskClaim); err != nil {
		return principal.Principal{}, err
	}
	if p.Groups, err = stringsClaim(t.claims, v.cfg.GroupsClaim); err != nil {
		return principal.Principal{}, err
	}
	return p, nil
}

func (v *Verifier) checkTimes(t *token, now time.Time) error {
	leeway := v.cfg.Leeway
	switch {
	case t.exp.IsZero():
		return fail(ErrMalformed, "token has no exp")
	case !now.Before(t.exp.Add(leeway)):
		return fail(ErrExpired, "token is past its exp")
	case !t.nbf.IsZero() && now.Add(leeway).Before(t.nbf):
		return fail(ErrExpired, "token is before its nbf")
	case !t.iat.IsZero() && now.Add(leeway).Before(t.iat):
		return fail(ErrExpired, "token was issued in the future (iat)")
	}
	return nil
}

func (v *Verifier) audienceOK(aud []string) bool {
	for _, a := range aud {
		if slices.Contains(v.cfg.Audiences, a) {
			return true
		}
	}
	return false
}
