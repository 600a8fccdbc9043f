package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/actiongate/actiongate/internal/registry"
)

// Registry validates (`registry validate DIR`) or exports
// (`registry export DIR`) a registry directory.
func Registry(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) != 2 || (args[0] != "validate" && args[0] != "export") {
		return errors.New("usage: actiongate registry validate|export DIR")
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
