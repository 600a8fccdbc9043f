// Command actiongate is ActionGate's one binary: `actiongate serve` runs
// the services beside Envoy, `actiongate quickstart` runs everything on one
// machine. See `actiongate help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/actiongate/actiongate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
