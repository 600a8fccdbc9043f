package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/devidp"
	"github.com/actiongate/actiongate/internal/registry"
)

// auditRig is a gateway (extauthz only) with real SpiceDB, IdP and Kafka,
// driven with Envoy-shaped CheckRequests, that can lose its broker and be
// restarted on the same spool.
type auditRig struct {
	t     testing.TB
	ctx   context.Context
	cfg   Config
	app   *App
	kafka *devenv.Kafka
	port  int
	token string
}

func newAuditRig(t testing.TB, ctx context.Context) *auditRig {
	t.Helper()
	r := &auditRig{t: t, ctx: ctx, cfg: Default()}
	r.cfg.Services = []string{ServiceExtAuthz}
	// These tests take Kafka away and restart the gateway meanwhile; a
	// replica that cannot read the revocation channel refuses to start
	// (TestRevocation covers it), so the rig runs without it.
	r.cfg.Revocation.Disabled = true
	r.cfg.Registry.Dir = filepath.Join("..", "..", "examples", "registry")
	r.cfg.ExtAuthz.Listen = "127.0.0.1:0"
	bin, err := devenv.FindSpiceDB()
	devenv.RequireDep(t, "SpiceDB", err)
	sdb, err := devenv.StartSpiceDB(ctx, devenv.SpiceDBOptions{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sdb.Stop)
	reg, err := registry.Load(r.cfg.Registry.Dir)
	if err != nil {
		t.Fatal(err)
	}
	idpOpts := devidp.QuickstartOptions(reg)
	idpOpts.Issuer, idpOpts.Addr = "", "127.0.0.1:0"
	idp, err := devidp.Start(ctx, idpOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Stop)
	r.cfg.Identity.Issuers = []string{idp.Issuer}
	r.cfg.SpiceDB.Endpoint, r.cfg.SpiceDB.PresharedKey = sdb.Endpoint, sdb.PresharedKey
	if r.port, err = devenv.FreePort(); err != nil {
		t.Fatal(err)
	}
	r.startKafka()
	skey, _, err := audit.GenerateKey(audit.Origin("rig"))
	if err != nil {
		t.Fatal(err)
	}
	r.cfg.Audit.SpoolDir, r.cfg.Audit.InstanceID, r.cfg.Audit.SigningKey = t.TempDir(), "rig", skey
	r.cfg.Audit.Brokers = r.kafka.Brokers
	if r.token, err = devidp.Token(ctx, idp.Issuer, "trader-bob", "trade-executor", devidp.DevSecret("trade-executor"), "northwind"); err != nil {
		t.Fatal(err)
	}
	r.startApp()
	t.Cleanup(func() {
		if r.app != nil {
			r.app.Close()
		}
		if r.kafka != nil {
			r.kafka.Stop()
		}
	})
	return r
}

func (r *auditRig) startKafka() {
	k, err := devenv.StartKafka(r.ctx, devenv.KafkaOptions{Port: r.port, Topics: []string{audit.DefaultTopic, audit.DefaultCheckpointTopic}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.kafka = k
}

func (r *auditRig) stopKafka() { r.kafka.Stop(); r.kafka = nil }

func (r *auditRig) startApp() {
	a, err := Start(r.ctx, r.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		r.t.Fatal(err)
	}
	r.app = a
}

func (r *auditRig) restartApp() { r.app.Close(); r.app = nil; r.startApp() }

// check sends one tools/call; it returns the decision id and reason.
func (r *auditRig) check(tool, args string) (string, string) {
	r.t.Helper()
	conn, err := grpc.NewClient(r.app.Addr(ServiceExtAuthz), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, tool, args)
	resp, err := authv3.NewAuthorizationClient(conn).Check(r.ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/mcp/trading",
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: ":method", RawValue: []byte("POST")}, {Key: "content-type", RawValue: []byte("application/json")},
				{Key: "mcp-protocol-version", RawValue: []byte("2025-06-18")},
				{Key: "authorization", RawValue: []byte("Bearer " + r.token)},
			}},
			RawBody: []byte(body),
		}},
		ContextExtensions: map[string]string{"server_id": "trading"},
	}})
	if err != nil {
		r.t.Fatal(err)
	}
	f := resp.GetDynamicMetadata().GetFields()
	return f["decision_id"].GetStringValue(), f["reason"].GetStringValue()
}

const (
	quote = `{"symbol":"ACME"}`
	trade = `{"symbol":"ACME","side":"buy","quantity":1,"account":"ACC-1"}`
)

// shipped waits until every id has a decision event in the topic.
func (r *auditRig) shipped(ids map[string]bool, within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		entries, err := audit.ReadEvents(r.ctx, r.kafka.Brokers, audit.DefaultTopic)
		if err != nil {
			r.t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if ev, _, err := audit.ParseEvent(e.Raw); err == nil && ev.Kind == audit.KindDecision {
				seen[ev.DecisionID] = true
			}
		}
		missing := 0
		for id := range ids {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d decision events never reached Kafka", missing, len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAudit_NothingLostAcrossOutageAndRestart: decisions made while Kafka
// is down, and across a gateway restart in the middle of the outage, all
// reach the broker once it is back (compared by decision id); decisions
// never waited for Kafka.
func TestAudit_NothingLostAcrossOutageAndRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newAuditRig(t, ctx)
	before := map[string]bool{}
	for range 5 {
		id, reason := r.check("place_trade", trade)
		if reason != "allowed" {
			t.Fatalf("trade: %s", reason)
		}
		before[id] = true
	}
	r.shipped(before, 15*time.Second)

	r.stopKafka()
	during := map[string]bool{}
	for i := range 40 {
		tool, args := "get_quote", quote
		if i%2 == 0 {
			tool, args = "place_trade", trade
		}
		id, reason := r.check(tool, args)
		if reason != "allowed" {
			t.Fatalf("call %d during the outage: %s", i, reason)
		}
		during[id] = true
		if i == 20 {
			r.restartApp() // mid-outage: what the first process accepted must survive it
		}
	}
	r.startKafka()
	r.shipped(during, 30*time.Second)
}

// TestAudit_FullSpoolDeniesMutatingCalls: with Kafka down the spool fills
// to its bound; then a mutating call is denied audit_unavailable (and so,
// by default, is a read-only one); once Kafka is back and the spool drains,
// calls are allowed again.
func TestAudit_FullSpoolDeniesMutatingCalls(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newAuditRig(t, ctx)
	r.cfg.Audit.MaxBytes = 64 << 10
	r.restartApp()
	r.stopKafka()
	filled := false
	for i := 0; i < 2000 && !filled; i++ {
		_, reason := r.check("place_trade", trade)
		switch reason {
		case "allowed":
		case "audit_unavailable":
			filled = true
		default:
			t.Fatalf("call %d: %s", i, reason)
		}
	}
	if !filled {
		t.Fatal("a 64 KiB spool never filled")
	}
	if _, reason := r.check("get_quote", quote); reason != "audit_unavailable" {
		t.Fatalf("read-only call with a full spool: %s (readOnlyContinue is off)", reason)
	}
	r.startKafka()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, reason := r.check("place_trade", trade); reason == "allowed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the spool never drained after Kafka came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
