package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/decision"
	"github.com/actiongate/actiongate/internal/policy"
	"github.com/actiongate/actiongate/internal/principal"
	"github.com/actiongate/actiongate/internal/registry"
	"github.com/actiongate/actiongate/internal/replay"
)

// replayFixture is a gateway's record of three decisions: a spool's events
// exported with a signed checkpoint, and the content store they point to.
type replayFixture struct {
	dir, store, export, pub string
	inputHashes             map[string]string // decision id → input hash
}

func newReplayFixture(t *testing.T) replayFixture {
	t.Helper()
	ctx := context.Background()
	f := replayFixture{dir: t.TempDir(), inputHashes: map[string]string{}}
	f.store, f.export = filepath.Join(f.dir, "store"), filepath.Join(f.dir, "audit.jsonl")
	store, err := contentstore.Open(f.store, contentstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load("../../examples/registry")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordRegistry(reg); err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(ctx, policy.EmbeddedDefault())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RecordBundle(eng.Bundle()); err != nil {
		t.Fatal(err)
	}
	spool, err := audit.OpenSpool(audit.SpoolOptions{Dir: filepath.Join(f.dir, "spool"), InstanceID: "gw-r"})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	at := time.Date(2026, 3, 10, 3, 14, 0, 0, time.UTC)
	for _, c := range []struct{ id, agent, user, tenant, server, tool, args string }{
		{"dec-read", "note-summarizer", "dr-alice", "st-marys", "ehr", "read_chart", `{"patient_id":"p-1"}`},
		{"dec-rstr", "trade-executor", "trader-bob", "northwind", "trading", "place_trade", `{"symbol":"RSTR","side":"buy","quantity":1,"account":"ACC-7"}`},
	} {
		p := principal.Principal{Issuer: "https://idp.example", User: c.user, Agent: c.agent, Tenant: c.tenant}
		srv, _ := reg.Server(c.server)
		tool, _ := srv.Tool(c.tool)
		agent, _ := reg.Agent(c.agent)
		in := policy.Input{Principal: p, Agent: agent, Server: srv, Tool: tool,
			Call: policy.Call{Method: "tools/call", Arguments: json.RawMessage(c.args)}, Time: at, RegistryVersion: reg.Version.String()}
		res, err := eng.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := in.JSON()
		if err != nil {
			t.Fatal(err)
		}
		inputHash, err := store.RecordInput(doc)
		if err != nil {
			t.Fatal(err)
		}
		d := decision.Decision{ID: c.id, Outcome: res.Outcome(), Reason: decision.ReasonAllowed, RegistryVersion: reg.Version.String(),
			PolicyRevision: eng.Revision(), Server: c.server, Method: "tools/call", Tool: c.tool, Principal: p, PolicyReasons: res.Reasons}
		if !res.Allow {
			d.Reason = decision.ReasonPolicyDenied
		}
		ev, err := audit.FromDecision(d, audit.Extras{Time: at, Arguments: json.RawMessage(c.args), InputHash: inputHash})
		if err != nil {
			t.Fatal(err)
		}
		if err := spool.Append(&ev); err != nil {
			t.Fatal(err)
		}
		f.inputHashes[c.id] = inputHash
	}
	early, _ := audit.FromDecision(decision.Decision{ID: "dec-early", Outcome: decision.Deny, Reason: decision.ReasonUnknownTool,
		RegistryVersion: reg.Version.String(), Server: "ehr", Method: "tools/call", Tool: "drop_tables"}, audit.Extras{Time: at})
	if err := spool.Append(&early); err != nil {
		t.Fatal(err)
	}
	f.pub = writeSignedExport(t, spool, f.export, 3)
	return f
}

// writeSignedExport exports the spool's n events with a checkpoint signed
// by a new instance key and returns the public key file.
func writeSignedExport(t *testing.T, spool *audit.Spool, path string, n int) string {
	t.Helper()
	cur := spool.Cursor(0)
	defer cur.Close()
	recs, err := cur.Next(n)
	if err != nil || len(recs) != n {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	tree := audit.NewTree()
	var entries []audit.Entry
	for _, r := range recs {
		tree.Append(audit.LeafHash(r.Canonical))
		entries = append(entries, audit.Entry{Raw: r.Canonical, Where: fmt.Sprintf("seq %d", r.Seq), Stream: "spool"})
	}
	root, err := tree.Root(uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := audit.GenerateKey(audit.Origin(spool.InstanceID()))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.ParseSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: audit.Origin(spool.InstanceID()), Size: uint64(n), Root: root}, signer)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := audit.WriteExport(out, entries, []audit.SignedCheckpoint{{Note: note}}); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(filepath.Dir(path), "gw-r.pub")
	if err := os.WriteFile(pub, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestAuditReplay_MatchesAndExplains(t *testing.T) {
	t.Parallel()
	f := newReplayFixture(t)
	if code, out, errOut := run("audit", "verify", "--file", f.export, "--key", f.pub); code != 0 {
		t.Fatalf("the fixture's export does not verify: %s%s", out, errOut)
	}
	code, out, errOut := run("audit", "replay", "dec-read", "--store", f.store, "--file", f.export, "--key", f.pub)
	if code != 0 || !strings.Contains(out, "replay MATCHES the recorded decision") ||
		!regexpMatch(out, `policy reasons\s+allow:read_only\s+allow:read_only`) ||
		!regexpMatch(out, `log\s+ok\s+event included in the signed checkpoint of gw-r at size 3`) ||
		strings.Contains(out, "differs") {
		t.Fatalf("replay dec-read: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("audit replay:\n%s", out)

	code, out, errOut = run("audit", "replay", "dec-rstr", "--store", f.store, "--export", f.export, "--json")
	var r replay.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || !r.Match || r.Replayed == nil ||
		r.Replayed.Outcome != "deny" || strings.Join(r.Replayed.PolicyReasons, ",") != "restricted_instrument" ||
		r.InputHash != f.inputHashes["dec-rstr"] || r.Checks[0].Name != "log" || r.Checks[0].Result != "skipped" {
		t.Fatalf("replay --json: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = run("audit", "replay", "dec-early", "--store", f.store, "--file", f.export)
	if code != 0 || !strings.Contains(out, "decided before policy: reason unknown_tool; nothing to replay") {
		t.Fatalf("replay dec-early: exit %d\n%s%s", code, out, errOut)
	}
}

func TestAuditReplay_FailsOnDifferenceAndTampering(t *testing.T) {
	t.Parallel()
	f := newReplayFixture(t)
	// An export whose decision says the restricted trade was allowed.
	data, err := os.ReadFile(f.export)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), `"outcome":"deny","policyReasons":["restricted_instrument"]`,
		`"outcome":"allow","policyReasons":["restricted_instrument"]`, 1)
	if edited == string(data) {
		t.Fatal("test did not edit the export")
	}
	forged := filepath.Join(f.dir, "forged.jsonl")
	if err := os.WriteFile(forged, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("audit", "replay", "dec-rstr", "--store", f.store, "--file", forged)
	if code != 1 || !regexpMatch(out, `outcome\s+allow\s+deny\s+<- differs`) ||
		!strings.Contains(errOut, "replay of decision dec-rstr FAILED: replay differs from the recorded decision") {
		t.Fatalf("forged outcome: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("replay of a forged event:\n%s%s", out, errOut)
	// With the key, the forged event is not in the signed log at all.
	if code, _, errOut := run("audit", "replay", "dec-rstr", "--store", f.store, "--file", forged, "--key", f.pub); code != 1 ||
		!strings.Contains(errOut, "no valid signed checkpoint") {
		t.Fatalf("forged outcome with --key: exit %d\n%s", code, errOut)
	}

	// A stored input edited to look like an ordinary trade.
	h := strings.TrimPrefix(f.inputHashes["dec-rstr"], "sha256:")
	path := filepath.Join(f.store, "input", h[:2], h+".json")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(doc), "RSTR", "ACME", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("audit", "replay", "dec-rstr", "--store", f.store, "--file", f.export, "--key", f.pub)
	if code != 1 || !strings.Contains(errOut, "does not match its address") || !strings.Contains(errOut, path) ||
		!strings.Contains(errOut, f.inputHashes["dec-rstr"]) {
		t.Fatalf("tampered input: exit %d\n%s%s", code, out, errOut)
	}

	for _, args := range [][]string{
		{"audit", "replay", "--store", f.store, "--file", f.export},
		{"audit", "replay", "dec-read", "--file", f.export},
		{"audit", "replay", "dec-read", "--store", filepath.Join(f.dir, "no-such-store"), "--file", f.export},
		{"audit", "replay", "dec-read", "--store", f.store},
		{"audit", "replay", "dec-nope", "--store", f.store, "--file", f.export},
	} {
		if code, _, errOut := run(args...); code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "no-such-store")); err == nil {
		t.Error("replay created a store directory")
	}
}

func regexpMatch(s, pattern string) bool { return regexp.MustCompile(pattern).MatchString(s) }
