package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM before its
// whole process group is killed.
const stopGrace = 3 * time.Second

// errorTail is how much of a process's output goes into an error message.
const errorTail = 4 << 10

// process is a child process in its own process group (so helpers it
// spawns die with it), with its output captured in Logs.
type process struct {
	name   string
	cmd    *exec.Cmd
	logs   *Logs
	exited chan struct{} // closed when Wait returns
	err    error         // Wait's result, valid once exited is closed

	stopOnce sync.Once
	unwatch  func() bool
}

// startProcess starts path with args and the extra environment (added to
// ours). The process is stopped when ctx ends or stop is called.
func startProcess(ctx context.Context, name, dir, path string, args, env []string) (*process, error) {
	logs := NewLogs(0)
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	p := &process{name: name, cmd: cmd, logs: logs, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	p.unwatch = context.AfterFunc(ctx, p.stop)
	return p, nil
}

// stop terminates the process group and waits for the process to exit.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		if p.unwatch != nil {
			p.unwatch()
		}
		select {
		case <-p.exited:
			// Helpers may outlive their parent; make sure the group is gone.
			_ = killGroup(p.cmd.Process, true)
			return
		default:
		}
		_ = killGroup(p.cmd.Process, false)
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
		}
		_ = killGroup(p.cmd.Process, true)
		<-p.exited
	})
}

// exitedErr describes an early exit, with the end of the output, or returns
// nil while the process runs.
func (p *process) exitedErr() error {
	select {
	case <-p.exited:
	default:
		return nil
	}
	return fmt.Errorf("%s exited before it was ready (%v); last output:\n%s", p.name, p.err, p.logs.Tail(errorTail))
}

// addrInUse reports whether the process's output says its port was taken,
// the one start-up failure worth retrying with another port.
func (p *process) addrInUse() bool {
	out := p.logs.Tail(errorTail)
	return strings.Contains(out, "address already in use") || strings.Contains(out, "EADDRINUSE")
}

// waitReady polls probe until it succeeds, the process exits, or timeout
// passes. On failure the process is stopped.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%s not ready after %s", p.name, timeout))
	defer cancel()
	err := poll(ctx, func(ctx context.Context) error {
		if err := p.exitedErr(); err != nil {
			return &stopPolling{err}
		}
		return probe(ctx)
	})
	if err == nil {
		return nil
	}
	early := p.exitedErr() // exited on its own, not because we stop it
	p.stop()
	switch {
	case early != nil && p.addrInUse():
		return fmt.Errorf("%w: %w", errAddrInUse, early)
	case early != nil:
		return early
	default:
		return fmt.Errorf("%w; last output:\n%s", err, p.logs.Tail(errorTail))
	}
}

// errAddrInUse marks a start that failed only because its port was taken.
var errAddrInUse = errors.New("port already in use")

// retryPort runs start with a port from FreePort, again (up to three times)
// when the port was taken between choosing and binding it. A fixed port is
// tried once.
func retryPort(fixed int, start func(port int) error) error {
	if fixed != 0 {
		return start(fixed)
	}
	var err error
	for range 3 {
		var port int
		if port, err = FreePort(); err != nil {
			return err
		}
		if err = start(port); !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}
