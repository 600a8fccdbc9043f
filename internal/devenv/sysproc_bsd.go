//go:build unix && !linux

package devenv

import "syscall"

// sysProcAttr puts the child in its own process group so Stop reaches the
// helpers it spawns.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
