//go:build !unix

package devenv

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills p itself: without process groups there is nothing
// gentler to send.
func killGroup(p *os.Process, _ bool) error { return p.Kill() }
