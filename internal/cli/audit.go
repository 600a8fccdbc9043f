package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/actiongate/actiongate/internal/audit"
)

const auditUsage = `usage:
  actiongate audit verify (--file EXPORT | --brokers HOST:PORT[,...] [--topic T] [--checkpoints-topic C]) --key FILE [--json]
      recompute every instance's hash chain and Merkle tree, check every signed
      checkpoint and the consistency between them; exit 1 on any problem
  actiongate audit export --brokers HOST:PORT[,...] [--topic T] [--checkpoints-topic C] [--out FILE]
      write both topics, read to their end, as JSON Lines
  actiongate audit prove EVENT-ID (--file EXPORT | --brokers ...) --key FILE
      print an inclusion proof of one event against a signed checkpoint
  actiongate audit replay DECISION-ID --store DIR (--file EXPORT | --brokers ...) [--key FILE] [--json]
      re-evaluate one decision with its recorded policy revision and input; exit 1 on any difference
  actiongate audit keygen --instance ID --out PREFIX
      make an instance's Ed25519 checkpoint key: PREFIX.key (secret), PREFIX.pub (for auditors)`

// Audit reads, verifies and proves the audit log: `audit verify`,
// `audit export`, `audit prove`, `audit keygen`, `audit replay`.
func Audit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "export":
		return auditExport(ctx, args[1:], stdout, stderr)
	case "prove":
		return auditProve(ctx, args[1:], stdout, stderr)
	case "keygen":
		return auditKeygen(args[1:], stdout, stderr)
	case "replay":
		return auditReplay(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown audit command %q\n%s", args[0], auditUsage)
}

// auditSource is where the log is read from: an export or the topics.
type auditSource struct {
	file, brokers, topic, ckTopic, key string
}

func (s *auditSource) flags(fs *flag.FlagSet, withFile, withKey bool) {
	if withFile {
		fs.StringVar(&s.file, "file", "", "an export written by 'audit export'")
	}
	fs.StringVar(&s.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&s.topic, "topic", audit.DefaultTopic, "events topic")
	fs.StringVar(&s.ckTopic, "checkpoints-topic", audit.DefaultCheckpointTopic, "checkpoints topic")
	if withKey {
		fs.StringVar(&s.key, "key", "", "file of trusted verifier keys, one per line (required)")
	}
}

func (s *auditSource) check(withFile bool) error {
	switch {
	case withFile && (s.file == "") == (s.brokers == ""):
		return errors.New("give exactly one of --file and --brokers")
	case !withFile && s.brokers == "":
		return errors.New("--brokers is required")
	}
	return nil
}

func (s *auditSource) load(ctx context.Context) ([]audit.Entry, []audit.SignedCheckpoint, error) {
	if s.file != "" {
		f, err := os.Open(s.file)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		return audit.ReadExport(f)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	brokers := strings.Split(s.brokers, ",")
	entries, err := audit.ReadEvents(ctx, brokers, s.topic)
	if err != nil {
		return nil, nil, err
	}
	cps, err := audit.ReadCheckpoints(ctx, brokers, s.ckTopic)
	return entries, cps, err
}

func newAuditFlags(name string, stderr io.Writer, withFile, withKey bool) (*auditSource, *flag.FlagSet) {
	var s auditSource
	fs := flag.NewFlagSet("audit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.flags(fs, withFile, withKey)
	return &s, fs
}

func loadVerifiers(path string) (audit.Verifiers, error) {
	if path == "" {
		return nil, errors.New("--key FILE (trusted verifier keys) is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := audit.ParseVerifiers(b)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return v, nil
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	src, fs := newAuditFlags("verify", stderr, true, true)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := src.check(true); err != nil {
		return err
	}
	known, err := loadVerifiers(src.key)
	if err != nil {
		return err
	}
	entries, cps, err := src.load(ctx)
	if err != nil {
		return err
	}
	r := audit.Verify(entries, cps, known)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printReport(stdout, &r, len(entries), len(cps))
	}
	if !r.OK() {
		return fmt.Errorf("audit log verification FAILED: %d problem(s)", len(r.Problems))
	}
	return nil
}

func printReport(w io.Writer, r *audit.Report, events, cps int) {
	fmt.Fprintf(w, "read %d event records and %d checkpoints; %d duplicate deliveries dropped by event id\n",
		events, cps, r.Duplicates)
	for _, in := range r.Instances {
		fmt.Fprintf(w, "instance %s: %d events, gap-free up to seq %d; %d signed checkpoint(s), verified up to size %d",
			in.Instance, in.Events, int64(in.Contiguous)-1, in.Checkpoints, in.VerifiedSize)
		if in.Root != "" {
			fmt.Fprintf(w, " (root %s)", in.Root)
		}
		fmt.Fprintln(w)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM %s", p.Kind)
		if p.Instance != "" {
			fmt.Fprintf(w, " instance %s", p.Instance)
		}
		if p.Seq != nil {
			fmt.Fprintf(w, " seq %d", *p.Seq)
		}
		if p.Where != "" {
			fmt.Fprintf(w, " at %s", p.Where)
		}
		fmt.Fprintf(w, ": %s\n", p.Detail)
	}
	if r.OK() {
		fmt.Fprintln(w, "verification PASSED")
	} else {
		fmt.Fprintf(w, "verification FAILED: %d problem(s)\n", len(r.Problems))
	}
}

func auditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	src, fs := newAuditFlags("export", stderr, false, false)
	out := fs.String("out", "", "output file (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := src.check(false); err != nil {
		return err
	}
	entries, cps, err := src.load(ctx)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := audit.WriteExport(w, entries, cps); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d event records and %d checkpoints\n", len(entries), len(cps))
	return nil
}

func auditProve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	src, fs := newAuditFlags("prove", stderr, true, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		return errors.New("usage: actiongate audit prove EVENT-ID (--file EXPORT | --brokers ...) --key FILE")
	}
	if err := src.check(true); err != nil {
		return err
	}
	known, err := loadVerifiers(src.key)
	if err != nil {
		return err
	}
	entries, cps, err := src.load(ctx)
	if err != nil {
		return err
	}
	p, err := audit.Prove(entries, cps, known, id)
	if err != nil {
		return err
	}
	if err := audit.VerifyInclusion(p, known); err != nil {
		return fmt.Errorf("the proof does not verify: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "event %s (instance %s, seq %d) is included in the signed checkpoint of size %d\n",
		id, p.Instance, p.LeafIndex, p.TreeSize)
	return nil
}

func auditKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	instance := fs.String("instance", "", "instance id (the spool's; required)")
	out := fs.String("out", "", "path prefix for PREFIX.key and PREFIX.pub (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *instance == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("usage: actiongate audit keygen --instance ID --out PREFIX")
	}
	if !audit.ValidInstanceID(*instance) {
		return fmt.Errorf("instance id %q: use 1 to 128 letters, digits, '.', '_' or '-'", *instance)
	}
	skey, vkey, err := audit.GenerateKey(audit.Origin(*instance))
	if err != nil {
		return err
	}
	if err := writeNew(*out+".key", skey+"\n", 0o600); err != nil {
		return err
	}
	if err := writeNew(*out+".pub", vkey+"\n", 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.key (secret: the instance's signing key) and %s.pub (give it to auditors)\n", *out, *out)
	return nil
}

// writeNew refuses to overwrite: replacing a key by accident orphans the
// checkpoints it signed.
func writeNew(path, content string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
