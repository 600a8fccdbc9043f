package contentstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
)

func exampleRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg, err := registry.Load("../../examples/registry")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestRecordRegistry_RoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{NoSync: true})
	reg := exampleRegistry(t)
	addr, err := s.RecordRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	export, _ := reg.JSON()
	if addr != sha256Address(export) {
		t.Errorf("snapshot address %s is not the SHA-256 of the export", addr)
	}
	if again, err := s.RecordRegistry(reg); err != nil || again != addr {
		t.Errorf("second record: %s, %v", again, err)
	}
	back, got, err := s.LoadRegistry(reg.Version.String())
	if err != nil || got != addr {
		t.Fatalf("LoadRegistry: %s, %v", got, err)
	}
	backJSON, _ := back.JSON()
	if !bytes.Equal(backJSON, export) {
		t.Fatalf("the loaded registry exports differently:\n%s\n%s", backJSON, export)
	}
	if _, ok := back.Agent("trade-executor"); !ok {
		t.Error("loaded registry is not indexed")
	}

	if _, _, err := s.LoadRegistry("git:0000000000000000000000000000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown version: %v", err)
	}
	path, _ := s.path(KindRegistry, addr)
	if err := os.WriteFile(path, bytes.Replace(export, []byte(`"tier": 2`), []byte(`"tier": 4`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadRegistry(reg.Version.String()); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), path) {
		t.Errorf("tampered snapshot: %v", err)
	}
}

func TestLoadRegistry_RefToAnotherVersionsSnapshot(t *testing.T) {
	t.Parallel()
	s := openStore(t, Options{NoSync: true})
	reg := exampleRegistry(t)
	other := registry.New(registry.Version{ContentHash: "sha256:" + strings.Repeat("ab", 32)}, reg.Servers, reg.Agents[:1], reg.Tenants)
	otherAddr, err := s.RecordRegistry(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRegistry(reg); err != nil {
		t.Fatal(err)
	}
	// Point reg's ref at the other snapshot.
	ref, _ := json.Marshal(registryRef{Version: reg.Version.String(), Snapshot: otherAddr})
	if err := os.WriteFile(s.refPath(reg.Version.String()), ref, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadRegistry(reg.Version.String()); !errors.Is(err, ErrTampered) {
		t.Errorf("ref to another version's snapshot: %v", err)
	}
}

func TestRecordInput_ReplaysToTheSameResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, Options{NoSync: true})
	eng, err := policy.Compile(ctx, policy.EmbeddedDefault())
	if err != nil {
		t.Fatal(err)
	}
	reg := exampleRegistry(t)
	srv, _ := reg.Server("trading")
	tool, _ := srv.Tool("place_trade")
	agent, _ := reg.Agent("trade-executor")
	in := policy.Input{
		Principal: principal.Principal{Issuer: "https://idp.example", User: "trader-bob", Agent: agent.ID, Tenant: "northwind"},
		Agent:     agent, Server: srv, Tool: tool,
		Call:            policy.Call{Method: "tools/call", Arguments: json.RawMessage(`{"symbol":"RSTR","side":"buy","quantity":1,"account":"ACC-7"}`)},
		Time:            time.Date(2026, 3, 10, 3, 14, 0, 0, time.UTC),
		RegistryVersion: reg.Version.String(),
	}
	res, err := eng.Evaluate(ctx, in)
	if err != nil || res.Outcome() != "deny" || strings.Join(res.Reasons, ",") != "restricted_instrument" {
		t.Fatalf("evaluate: %+v, %v", res, err)
	}
	// What extauthz does after deciding (recordDecision).
	raw, err := in.JSON()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.RecordInput(raw)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := s.LoadInput(addr)
	if err != nil {
		t.Fatal(err)
	}
	again, err := eng.EvaluateDocument(ctx, doc)
	if err != nil || again.Outcome() != res.Outcome() || strings.Join(again.Reasons, ",") != strings.Join(res.Reasons, ",") {
		t.Fatalf("the recorded input decides differently: %+v, %v", again, err)
	}

	// An input whose numbers a record would round is refused.
	in.Call.Arguments = json.RawMessage(`{"symbol":"ACME","side":"buy","quantity":12345678901234567890,"account":"ACC-7"}`)
	if raw, err = in.JSON(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordInput(raw); err == nil || !strings.Contains(err.Error(), "12345678901234567890") {
		t.Errorf("lossy input recorded: %v", err)
	}
}
