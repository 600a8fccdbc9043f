package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/actiongate/actiongate/internal/registry"
)

const registryUsage = `usage: actiongate registry validate|export DIR
       actiongate registry pin [--check] DIR`

// Registry validates (`registry validate DIR`), exports
// (`registry export DIR`) or pins (`registry pin [--check] DIR`) a registry
// directory.
func Registry(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) >= 1 && args[0] == "pin" {
		return registryPin(args[1:], stdout)
	}
	if len(args) != 2 || (args[0] != "validate" && args[0] != "export") {
		return errors.New(registryUsage)
	}
	reg, err := registry.Load(args[1])
	if err != nil {
		return err
	}
	if args[0] == "export" {
		b, err := reg.JSON()
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	_, err = fmt.Fprintf(stdout, "registry %s is valid: version %s, %d servers, %d agents, %d tenants\n",
		args[1], reg.Version, len(reg.Servers), len(reg.Agents), len(reg.Tenants))
	return err
}

// registryPin writes each tool's definition hash as its pin. With --check
// it writes nothing and fails when a pin is missing or stale: the CI step
// that keeps a definition change from landing without its reviewed pin.
func registryPin(args []string, stdout io.Writer) error {
	check := false
	if len(args) == 2 && args[0] == "--check" {
		check, args = true, args[1:]
	}
	if len(args) != 1 {
		return errors.New(registryUsage)
	}
	changes, err := registry.PinFiles(args[0], check)
	if err != nil {
		return err
	}
	for _, c := range changes {
		was := "unpinned"
		if c.Old != "" {
			was = "was " + c.Old
		}
		fmt.Fprintf(stdout, "%s:%d: %s/%s pin %s (%s)\n", c.File, c.Line, c.Server, c.Tool, c.New, was)
	}
	switch {
	case check && len(changes) > 0:
		return fmt.Errorf("%d tool pins missing or stale; review the definitions, then run `actiongate registry pin %s`", len(changes), args[0])
	case check:
		fmt.Fprintln(stdout, "every tool is pinned to its definition")
	case len(changes) == 0:
		fmt.Fprintln(stdout, "every tool was already pinned to its definition")
	default:
		fmt.Fprintf(stdout, "%d pins written\n", len(changes))
	}
	return nil
}
