package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/actiongate/actiongate/internal/audit"
)

// TestRevocation_ReachesEveryReplica: two gateway replicas (ext_authz +
// admin each, own spool and audit instance) share Kafka and SpiceDB. A
// revocation sent to one replica's admin API returns only when both
// confirmed, and both refuse the user at once; lifting restores both.
func TestRevocation_ReachesEveryReplica(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newAuditRig(t, ctx)
	r.app.Close()
	r.app = nil
	base := r.cfg
	base.Services = []string{ServiceExtAuthz, ServiceAdmin}
	base.Revocation.Disabled = false
	base.Admin.Listen = "127.0.0.1:0"
	base.AdminAuth.Token = "admin-test-token"
	var replicas []*App
	for _, id := range []string{"replica-a", "replica-b"} {
		cfg := base
		skey, _, err := audit.GenerateKey(audit.Origin(id))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Audit.SpoolDir, cfg.Audit.InstanceID, cfg.Audit.SigningKey = t.TempDir(), id, skey
		cfg.Revocation.ReplicaID = id
		a, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		replicas = append(replicas, a)
	}
	for i, a := range replicas {
		r.app = a
		if _, reason := r.check("get_quote", quote); reason != "allowed" {
			t.Fatalf("replica %d before: %s", i, reason)
		}
	}
	rec := revokeAt(t, replicas[0], `{"kind":"user","subject":"trader-bob","reason":"offboarding"}`)
	if !rec.Enforced || len(rec.Confirmed) != 2 || rec.Confirmed["replica-a"] == 0 || rec.Confirmed["replica-b"] == 0 {
		t.Fatalf("receipt %+v: want both replicas confirmed", rec)
	}
	if rec.EnforcedMs > 1000 {
		t.Fatalf("enforced after %.1f ms, target 1 s", rec.EnforcedMs)
	}
	t.Logf("revocation confirmed by both replicas in %.2f ms", rec.EnforcedMs)
	for i, a := range replicas {
		r.app = a
		if _, reason := r.check("get_quote", quote); reason != "revoked" {
			t.Fatalf("replica %d after the revocation: %s", i, reason)
		}
	}
	revokeAt(t, replicas[1], `{"kind":"user","subject":"trader-bob","lift":true}`)
	for i, a := range replicas {
		r.app = a
		if _, reason := r.check("get_quote", quote); reason != "allowed" {
			t.Fatalf("replica %d after the lift: %s", i, reason)
		}
	}
	r.app = nil
}

func revokeAt(t *testing.T, a *App, body string) ReceiptView {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr(ServiceAdmin)+"/v1/revocations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer admin-test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec ReceiptView
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: HTTP %d %+v %v", resp.StatusCode, rec, err)
	}
	return rec
}

// TestRevocation_AdminAPIRequiresToken: no token, a wrong one, or none
// configured: the revocation endpoint refuses.
func TestRevocation_AdminAPIRequiresToken(t *testing.T) {
	a := &App{cfg: Default()}
	a.cfg.AdminAuth = AdminAuthConfig{Token: "right"}
	for _, tc := range []struct{ header, want string }{
		{"", "admin token required"}, {"Bearer wrong", "admin token required"}, {"Basic right", "admin token required"},
	} {
		req, _ := http.NewRequest(http.MethodPost, "/v1/revocations", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		if err := a.requireAdmin(req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v", tc.header, err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "/v1/revocations", nil)
	req.Header.Set("Authorization", "Bearer right")
	if err := a.requireAdmin(req); err != nil {
		t.Fatal(err)
	}
	a.cfg.AdminAuth = AdminAuthConfig{TokenEnv: "ACTIONGATE_TEST_UNSET_TOKEN_VAR"}
	if err := a.requireAdmin(req); err == nil {
		t.Fatal("an admin API with no token configured admitted a request")
	}
}
