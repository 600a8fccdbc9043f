package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/actiongate/actiongate/internal/audit"
	"github.com/actiongate/actiongate/internal/contentstore"
	"github.com/actiongate/actiongate/internal/replay"
)

const auditReplayUsage = "usage: actiongate audit replay DECISION-ID --store DIR (--file EXPORT | --brokers HOST:PORT[,...] [--topic T]) [--key FILE] [--json]"

// auditReplay finds one decision event in the log, re-evaluates its policy
// step from the content store and prints the original and replayed
// decision side by side. Any difference, and any store object that is
// missing or does not match its hash, is an error (exit 1).
func auditReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	src, fs := newAuditFlags("replay", stderr, true, false)
	fs.StringVar(&src.file, "export", "", "same as --file")
	fs.StringVar(&src.key, "key", "", "trusted verifier keys: also prove the event is in a signed checkpoint")
	storeDir := fs.String("store", "", "the content store directory the gateways record into (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		return errors.New(auditReplayUsage)
	}
	if err := src.check(true); err != nil {
		return err
	}
	store, err := openStoreDir(*storeDir)
	if err != nil {
		return err
	}
	entries, cps, err := src.load(ctx)
	if err != nil {
		return err
	}
	ev, err := findDecision(entries, id)
	if err != nil {
		return err
	}
	logCheck, err := proveLogged(src.key, entries, cps, ev)
	if err != nil {
		return err
	}
	r, rerr := replay.Replay(ctx, ev, store)
	r.Checks = append([]replay.Check{logCheck}, r.Checks...)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printReplay(stdout, &r, rerr)
	}
	if rerr != nil {
		return fmt.Errorf("replay of decision %s FAILED: %w", ev.DecisionID, rerr)
	}
	return nil
}

// openStoreDir opens an existing store only: a mistyped path must not
// become an empty store that reports every object missing.
func openStoreDir(dir string) (*contentstore.Store, error) {
	if dir == "" {
		return nil, errors.New("--store DIR (the content store) is required")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--store %s is not a directory", dir)
	}
	return contentstore.Open(dir, contentstore.Options{NoSync: true})
}

// findDecision returns the decision event of id (a decision id, or the
// event id of a decision event). Re-deliveries carry the same event id;
// two different decision events for one id are refused as ambiguous.
func findDecision(entries []audit.Entry, id string) (audit.Event, error) {
	var found []audit.Event
	var where []string
	for _, e := range entries {
		ev, _, err := audit.ParseEvent(e.Raw)
		if err != nil || ev.Kind != audit.KindDecision || (ev.DecisionID != id && ev.ID != id) {
			continue
		}
		if e.Problem != "" {
			return audit.Event{}, fmt.Errorf("the record of decision %s at %s is damaged (%s); run 'audit verify'", id, e.Where, e.Problem)
		}
		if len(found) > 0 && found[0].ID == ev.ID {
			continue
		}
		found = append(found, ev)
		where = append(where, e.Where)
	}
	switch len(found) {
	case 0:
		return audit.Event{}, fmt.Errorf("no decision event for %s among %d event records", id, len(entries))
	case 1:
		return found[0], nil
	}
	return audit.Event{}, fmt.Errorf("%d different decision events for %s (at %s); run 'audit verify'", len(found), id, strings.Join(where, ", "))
}

// proveLogged checks, when the auditor gave keys, that the event is in a
// signed checkpoint of its instance's log: what is replayed is then what
// the gateway committed to.
func proveLogged(keyFile string, entries []audit.Entry, cps []audit.SignedCheckpoint, ev audit.Event) (replay.Check, error) {
	if keyFile == "" {
		return replay.Check{Name: "log", Result: "skipped",
			Detail: "event not checked against a signed checkpoint (give --key, or run 'audit verify')"}, nil
	}
	known, err := loadVerifiers(keyFile)
	if err != nil {
		return replay.Check{}, err
	}
	p, err := audit.Prove(entries, cps, known, ev.ID)
	if err != nil {
		return replay.Check{}, fmt.Errorf("event %s of decision %s: %w", ev.ID, ev.DecisionID, err)
	}
	if err := audit.VerifyInclusion(p, known); err != nil {
		return replay.Check{}, fmt.Errorf("event %s of decision %s: %w", ev.ID, ev.DecisionID, err)
	}
	return replay.Check{Name: "log", Result: "ok",
		Detail: fmt.Sprintf("event included in the signed checkpoint of %s at size %d", p.Instance, p.TreeSize)}, nil
}

func printReplay(w io.Writer, r *replay.Report, rerr error) {
	fmt.Fprintf(w, "decision %s: event %s (instance %s, seq %d, logged %s)\n",
		r.DecisionID, r.EventID, r.Instance, r.Seq, r.EventTime.Format("2006-01-02T15:04:05.999999999Z07:00"))
	if r.DecidedAt != "" {
		fmt.Fprintf(w, "decided at %s (the input's time, the policy's clock)\n", r.DecidedAt)
	}
	fmt.Fprintf(w, "policy revision %s\ninput %s\nregistry version %s\n\n",
		orNone(r.PolicyRevision), orNone(r.InputHash), orNone(r.RegistryVersion))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Result, c.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.Replayed != nil {
		var table bytes.Buffer
		tw = tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FIELD\tORIGINAL\tREPLAYED\t")
		row := func(field, a, b string) {
			mark := ""
			if a != b {
				mark = "<- differs"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", field, a, b, mark)
		}
		row("outcome", r.Original.Outcome, r.Replayed.Outcome)
		row("reason", r.Original.Reason, r.Replayed.Reason)
		row("policy reasons", strings.Join(r.Original.PolicyReasons, ", "), strings.Join(r.Replayed.PolicyReasons, ", "))
		tw.Flush()
		for line := range strings.Lines(table.String()) {
			fmt.Fprintln(w, strings.TrimRight(line, " \n"))
		}
		if r.Replayed.Carried != "" {
			fmt.Fprintf(w, "note: %s\n", r.Replayed.Carried)
		}
		if r.Replayed.Error != "" {
			fmt.Fprintf(w, "replayed evaluation error: %s\n", r.Replayed.Error)
		}
	}
	switch {
	case r.Status == replay.StatusBeforePolicy:
		fmt.Fprintln(w, r.Note)
	case r.Match:
		fmt.Fprintln(w, "replay MATCHES the recorded decision")
	case rerr != nil:
		fmt.Fprintf(w, "replay FAILED: %v\n", rerr)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
