//go:build !linux

package devstack

import "syscall"

// setDeathSignal does nothing where the kernel cannot signal a child on its
// parent's death: there the children live until Stop (or until they notice).
func setDeathSignal(*syscall.SysProcAttr) {}

// isPostgresProcess reports whether pid is a running process; without /proc it
// cannot tell a postgres from another process, so it assumes one.
func isPostgresProcess(pid int) bool {
	return processAlive(pid)
}
