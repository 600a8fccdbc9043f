package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// pollInterval is the pause between readiness probes.
const pollInterval = 50 * time.Millisecond

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can take it before it is used; starters that accept an
// explicit port therefore retry with a new one when the bind fails.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr returns "127.0.0.1:<port>" for a port from FreePort.
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// poll calls probe until it returns nil, ctx ends or probe reports that
// waiting longer cannot help (a *stopPolling error). The last probe error is
// returned so the caller can say what was not ready.
func poll(ctx context.Context, probe func(context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		if sp, ok := errors.AsType[*stopPolling](err); ok {
			return sp.err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %v)", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// stopPolling marks a probe error as final.
type stopPolling struct{ err error }

func (s *stopPolling) Error() string { return s.err.Error() }
func (s *stopPolling) Unwrap() error { return s.err }

// WaitTCP waits until addr accepts a TCP connection or ctx ends.
func WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	return poll(ctx, func(ctx context.Context) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// WaitHTTP waits until a GET of url gets any HTTP response below 500, or ctx
// ends. Any answer at all shows the server is up; callers that need a
// specific status check it themselves.
func WaitHTTP(ctx context.Context, url string) error {
	return poll(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return &stopPolling{err}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
}
