//go:build unix

package devenv

import (
	"os"
	"syscall"
)

// killGroup signals the process group led by p: SIGTERM, or SIGKILL when
// force is set.
func killGroup(p *os.Process, force bool) error {
	sig := syscall.SIGTERM
	if force {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-p.Pid, sig)
}
