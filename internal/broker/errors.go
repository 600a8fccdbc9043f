package broker

import (
	"errors"
	"fmt"
)

// ErrNotConnected: the user has no usable credential for the provider —
// never connected, or the provider no longer honours the stored grant.
// Test with errors.Is; errors.As to *NotConnectedError gives the link.
var ErrNotConnected = errors.New("broker: user has not connected the provider")

// ErrUnknownProvider: the provider is not configured.
var ErrUnknownProvider = errors.New("broker: unknown provider")

// NotConnectedError is the ErrNotConnected the broker returns. ConnectURL
// (empty when the broker has no PublicURL) is the link to put in the
// denial message; it carries a short-lived ticket, so Error() leaves it
// out and it must not be logged.
type NotConnectedError struct {
	Provider   string
	Reason     string
	ConnectURL string
}

func (e *NotConnectedError) Error() string {
	return fmt.Sprintf("broker: not connected to %q: %s", e.Provider, e.Reason)
}

func (e *NotConnectedError) Is(target error) bool { return target == ErrNotConnected }
