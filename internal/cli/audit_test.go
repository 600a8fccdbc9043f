package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/devenv"
	"github.com/actiongate/actiongate/internal/principal"
)

// TestAudit_VerifyExportProve ships a real log to the Kafka-protocol broker
// and runs the audit commands on the topics and on an export, honest and
// tampered.
func TestAudit_VerifyExportProve(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "gw-cli")
	if code, _, errOut := run("audit", "keygen", "--instance", "gw-cli", "--out", prefix); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	if code, _, _ := run("audit", "keygen", "--instance", "gw-cli", "--out", prefix); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}
	k, err := devenv.StartKafka(ctx, devenv.KafkaOptions{Topics: []string{audit.DefaultTopic, audit.DefaultCheckpointTopic}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	ids := shipLog(t, ctx, k.Brokers, prefix+".key", filepath.Join(dir, "spool"), 40)
	brokers := strings.Join(k.Brokers, ",")
	pub := prefix + ".pub"

	code, out, errOut := run("audit", "verify", "--brokers", brokers, "--key", pub)
	if code != 0 || !strings.Contains(out, "verification PASSED") || !strings.Contains(out, "verified up to size 40") {
		t.Fatalf("verify topics: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("audit verify on the topics:\n%s", out)
	export := filepath.Join(dir, "audit.jsonl")
	if code, _, errOut := run("audit", "export", "--brokers", brokers, "--out", export); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	if code, out, _ := run("audit", "verify", "--file", export, "--key", pub); code != 0 {
		t.Fatalf("verify export: exit %d\n%s", code, out)
	}
	code, out, errOut = run("audit", "prove", ids[17], "--file", export, "--key", pub)
	var proof audit.InclusionProof
	if code != 0 || json.Unmarshal([]byte(out), &proof) != nil || proof.LeafIndex != 17 || proof.TreeSize != 40 {
		t.Fatalf("prove: exit %d\n%s%s", code, out, errOut)
	}

	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.jsonl")
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.Contains(l, ids[17]) {
			lines[i] = strings.Replace(l, `"outcome":"allow"`, `"outcome":"deny"`, 1)
		}
	}
	if err := os.WriteFile(tampered, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("audit", "verify", "--file", tampered, "--key", pub)
	if code != 1 || !strings.Contains(out, "PROBLEM changed_event instance gw-cli seq 17") ||
		!strings.Contains(errOut, "verification FAILED") {
		t.Fatalf("verify tampered: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("audit verify on a tampered export:\n%s%s", out, errOut)

	for _, args := range [][]string{
		{"audit"},
		{"audit", "verify", "--key", pub},
		{"audit", "verify", "--file", export},
		{"audit", "verify", "--file", export, "--key", prefix + ".key"},
		{"audit", "prove", "no-such-id", "--file", export, "--key", pub},
		{"audit", "frobnicate"},
	} {
		if code, _, errOut := run(args...); code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// shipLog appends n events to a new spool, ships them with checkpoints and
// returns their ids in seq order.
func shipLog(t *testing.T, ctx context.Context, brokers []string, keyFile, dir string, n int) []string {
	t.Helper()
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.OpenSpool(audit.SpoolOptions{Dir: dir, InstanceID: "gw-cli"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh, err := audit.NewShipper(audit.ShipperOptions{Spool: s, Brokers: brokers, Topic: audit.DefaultTopic,
		CheckpointTopic: audit.DefaultCheckpointTopic, Signer: signer, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		d := decision.Decision{ID: fmt.Sprintf("dec-%d", i), Outcome: decision.Allow, Reason: decision.ReasonAllowed,
			Server: "ehr", Method: "tools/call", Tool: "read_chart",
			Principal: principal.Principal{User: "dr-alice", Agent: "note-summarizer", Tenant: "clinic-a"}}
		ev, err := audit.FromDecision(d, audit.Extras{Arguments: []byte(`{"patient_id":"p-1"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(&ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sh.Run(runCtx) }()
	for s.Stats().Shipped < uint64(n) {
		select {
		case <-ctx.Done():
			t.Fatal("events not shipped")
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop() // Run signs and publishes a last checkpoint as it stops
	if err := <-done; err != nil || sh.Stats().Checkpoints == 0 {
		t.Fatalf("shipper: %v, %d checkpoints", err, sh.Stats().Checkpoints)
	}
	return ids
}
