//go:build linux

package devenv

import "syscall"

// sysProcAttr puts the child in its own process group and has the kernel
// kill it if we die without stopping it, so no test run leaves servers
// behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
