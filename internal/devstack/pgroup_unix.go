//go:build unix

package devstack

import "syscall"

// setOwnProcessGroup puts the child in a process group of its own, so that
// the signals a terminal sends its foreground group (Ctrl-C's SIGINT) reach
// only the program that started it: `novaflow dev` stops its services
// while their Temporal and PostgreSQL still serve them, then stops those
// children itself, in order. The parent-death signal (setDeathSignal) still
// stops a child whose parent dies.
func setOwnProcessGroup(a *syscall.SysProcAttr) {
	a.Setpgid = true
}
