// Package cli implements the actiongate subcommands. Each is a function of
// (ctx, args, stdout, stderr) so tests run them exactly as the binary does.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
)

// Command is one subcommand.
type Command struct {
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// Commands returns the subcommands by name.
func Commands() map[string]Command {
	return map[string]Command{
		"serve":      {"run services (xds, extauthz, extproc, admin) from a config file", Serve},
		"quickstart": {"run the whole gateway and demo MCP servers on this machine", Quickstart},
		"registry":   {"validate or export a registry directory", Registry},
		"authz":      {"sync the registry into SpiceDB's relationship model, or print its schema", Authz},
		"dev":        {"development helpers: 'dev token' gets a delegated token from the dev IdP", Dev},
		"deps":       {"install the local dependencies of the quickstart and tests (SpiceDB, MCP reference server)", Deps},
		"audit":      {"verify, export or prove the tamper-evident audit log; make checkpoint keys", Audit},
		"revoke":     {"revoke (or lift) a user, agent or session on every replica, confirmed", Revoke},
		"drill":      {"'drill offboard': the offboarding fire drill against a running deployment", Drill},
		"version":    {"print the version", Version},
	}
}

// Main dispatches args[0] and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := Commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "actiongate: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := cmd.Run(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "actiongate %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]Command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "ActionGate governs what AI agents do: the agent calls, the runtime decides.")
	fmt.Fprintln(w, "\nUsage: actiongate <command> [flags]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].Summary)
	}
	fmt.Fprintln(w, "\nRun 'actiongate <command> -h' for a command's flags.")
}

// newLogger builds the process logger from level and format names.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q is not text or json", format)
}

// BuildVersion is set at link time (-ldflags "-X ...cli.BuildVersion=v1.2.3").
var BuildVersion = "dev"

// Version prints the build version.
func Version(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintf(stdout, "actiongate %s\n", BuildVersion)
	return err
}
