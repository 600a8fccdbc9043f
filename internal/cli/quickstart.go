package cli

import (
	"context"
	"errors"
	"io"
)

// Quickstart is wired in a later commit.
func Quickstart(context.Context, []string, io.Writer, io.Writer) error { return errors.New("not yet") }
