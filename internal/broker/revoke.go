package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// revokeTokens revokes rec's refresh token, then its access token, at the
// provider's RFC 7009 endpoint. The refresh token goes first: it is the
// long-lived one, and revoking it usually ends the access tokens of its
// grant too. Both are attempted whatever the first answer.
func (b *Broker) revokeTokens(ctx context.Context, p *provider, rec Record) error {
	if p.RevocationURL == "" {
		return nil
	}
	var errs []error
	if rec.RefreshToken != "" {
		if err := b.revokeOne(ctx, p, rec.RefreshToken, "refresh_token"); err != nil {
			errs = append(errs, fmt.Errorf("refresh token: %w", err))
		}
	}
	if rec.AccessToken != "" {
		if err := b.revokeOne(ctx, p, rec.AccessToken, "access_token"); err != nil {
			errs = append(errs, fmt.Errorf("access token: %w", err))
		}
	}
	return errors.Join(errs...)
}

// revokeOne is one RFC 7009 request, authenticated as the client (HTTP
// Basic with form-encoded id and secret, RFC 6749 §2.3.1, unless the
// provider wants them in the form). 200 is success, also for a token the
// provider already forgot (§2.2).
func (b *Broker) revokeOne(ctx context.Context, p *provider, token, hint string) error {
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if p.AuthStyle == "params" {
		form.Set("client_id", p.ClientID)
		form.Set("client_secret", p.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.AuthStyle != "params" {
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(p.ClientSecret))
	}
	resp, err := b.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("revocation endpoint unreachable: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var oe struct {
		Code string `json:"error"`
	}
	_ = json.Unmarshal(body, &oe)
	return fmt.Errorf("revocation endpoint answered %s (HTTP %d)", oauthCode(oe.Code), resp.StatusCode)
}
