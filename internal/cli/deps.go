package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/actiongate/actiongate/internal/devenv"
)

// Deps installs what the quickstart and the tests run besides our own
// code, into the tool cache (see internal/devenv): the SpiceDB server,
// built from its Go module, and the npm MCP reference server. Both are
// pinned; a second run finds them and returns at once.
func Deps(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("deps takes no arguments")
	}
	spicedb, err := devenv.EnsureSpiceDB(ctx, stdout)
	if err != nil {
		return fmt.Errorf("SpiceDB: %w", err)
	}
	fmt.Fprintf(stdout, "SpiceDB: %s\n", spicedb)
	everything, err := devenv.EnsureEverything(ctx, stdout)
	if err != nil {
		return fmt.Errorf("MCP reference server: %w", err)
	}
	fmt.Fprintf(stdout, "MCP reference server: %s\n", everything)
	return nil
}
