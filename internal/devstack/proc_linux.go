package devstack

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setDeathSignal makes the kernel send SIGINT (a clean, fast shutdown for both
// postgres and the Temporal CLI) to the child when the thread that started it
// exits, which for a Go program means when the program exits or is killed. So
// a child never outlives a test binary or `novaflow dev`, even one killed with
// SIGKILL.
func setDeathSignal(a *syscall.SysProcAttr) {
	a.Pdeathsig = syscall.SIGINT
}

// isPostgresProcess reports whether pid is a running postgres process.
func isPostgresProcess(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return false
	}
	return strings.TrimSpace(string(comm)) == "postgres"
}
