package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/actiongate/actiongate/authzmodel"
	"github.com/actiongate/actiongate/internal/registry"
)

// EnvSpiceDBKey holds SpiceDB's preshared key for `authz sync`: the
// environment keeps it out of the process list and shell history.
const EnvSpiceDBKey = "ACTIONGATE_SPICEDB_KEY"

const authzUsage = `usage:
  actiongate authz sync --registry DIR --spicedb HOST:PORT [--insecure] [--ca FILE] [--dry-run]
      make SpiceDB hold exactly the relationships the registry implies
      (key from $` + EnvSpiceDBKey + `, or --spicedb-key)
  actiongate authz schema
      print the SpiceDB schema`

// Authz manages the SpiceDB relationship model: `authz sync` and
// `authz schema`.
func Authz(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(authzUsage)
	}
	switch args[0] {
	case "schema":
		if len(args) > 1 {
			return errors.New(authzUsage)
		}
		_, err := io.WriteString(stdout, authzmodel.Schema)
		return err
	case "sync":
		return authzSync(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown authz command %q\n%s", args[0], authzUsage)
}

type authzSyncFlags struct {
	registry, endpoint, key, caFile string
	insecure, dryRun                bool
}

func parseAuthzSync(args []string, stderr io.Writer) (authzSyncFlags, error) {
	var f authzSyncFlags
	fs := flag.NewFlagSet("authz sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.registry, "registry", "", "registry directory (required)")
	fs.StringVar(&f.endpoint, "spicedb", "", "SpiceDB gRPC address, HOST:PORT (required)")
	fs.StringVar(&f.key, "spicedb-key", "", "SpiceDB preshared key; prefer $"+EnvSpiceDBKey)
	fs.StringVar(&f.caFile, "ca", "", "PEM CA bundle to verify SpiceDB's certificate (default: system roots)")
	fs.BoolVar(&f.insecure, "insecure", false, "plaintext gRPC (loopback addresses only)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the diff and write nothing")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.registry == "" || f.endpoint == "" {
		return f, errors.New("--registry and --spicedb are required")
	}
	env := os.Getenv(EnvSpiceDBKey)
	switch {
	case env != "" && f.key != "" && env != f.key:
		return f, fmt.Errorf("$%s and --spicedb-key are both set and differ: set one", EnvSpiceDBKey)
	case env != "":
		f.key = env
	case f.key == "":
		return f, fmt.Errorf("no SpiceDB key: set $%s", EnvSpiceDBKey)
	}
	return f, nil
}

func authzSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseAuthzSync(args, stderr)
	if err != nil {
		return err
	}
	reg, err := registry.Load(f.registry)
	if err != nil {
		return err
	}
	c, err := authzmodel.Dial(ctx, authzmodel.Options{
		Endpoint: f.endpoint, PresharedKey: f.key, Insecure: f.insecure, CAFile: f.caFile,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), // stdout carries the report
	})
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := c.Sync(ctx, reg, authzmodel.SyncOptions{DryRun: f.dryRun})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registry %s (version %s) against SpiceDB %s\n", f.registry, reg.Version, f.endpoint)
	fmt.Fprint(stdout, d.String())
	switch {
	case d.Empty():
		_, err = fmt.Fprintln(stdout, "in sync: nothing to write")
	case d.DryRun:
		_, err = fmt.Fprintf(stdout, "dry run: nothing written (%s)\n", counts(d))
	default:
		_, err = fmt.Fprintf(stdout, "written: %s; zedtoken %s\n", counts(d), d.WrittenAt)
	}
	return err
}

func counts(d authzmodel.Diff) string {
	schema := "schema unchanged"
	switch {
	case d.SchemaChanged && d.DryRun:
		schema = "schema differs"
	case d.SchemaChanged:
		schema = "schema written"
	}
	return fmt.Sprintf("%s, %d added, %d changed, %d removed", schema, len(d.Add), len(d.Change), len(d.Remove))
}
