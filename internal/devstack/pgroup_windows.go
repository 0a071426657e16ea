package devstack

import "syscall"

// setOwnProcessGroup does nothing on Windows, where a console's Ctrl-C is
// not delivered by process group.
func setOwnProcessGroup(*syscall.SysProcAttr) {}
