package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the child get SIGINT when the bench process dies, so
// that an interrupted run leaves no server behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
}
