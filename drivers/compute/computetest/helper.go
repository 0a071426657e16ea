package computetest

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// HelperEnv is the environment variable that turns a test binary importing
// this package into a helper process: when it is set, the binary runs the
// helper mode it names (one of the Helper* constants or HelperExit) from
// this package's init function and exits, without running any test.
const HelperEnv = "NOVAFLOW_COMPUTETEST_HELPER"

// Helper modes for Instance.
const (
	// HelperSleep runs until SIGTERM, then exits 0.
	HelperSleep = "sleep"
	// HelperIgnoreTerm ignores SIGTERM and runs until killed.
	HelperIgnoreTerm = "ignore-term"
	// HelperFork starts a child helper in HelperSleep mode, which stays in
	// the helper's process group, then behaves as HelperSleep.
	HelperFork = "fork"
	// HelperPrintEnv writes its environment to stdout, one entry a line
	// between "env-begin" and "env-end", then behaves as HelperSleep.
	HelperPrintEnv = "print-env"
)

// helperTTL bounds the life of a helper process, so that a test that dies
// half-way leaves no process behind for long.
const helperTTL = 10 * time.Minute

// HelperExit returns the helper mode that exits at once with code.
func HelperExit(code int) string { return "exit=" + strconv.Itoa(code) }

// Instance returns a valid instance (flavor 1 vCPU, 64 MB, 0 GB) whose
// command runs the current test binary as a helper process in mode. The
// helper writes "helper ready pid=N mode=M" to stdout once it has set up
// its signal handling (and, in HelperFork mode, "helper child pid=N" for its
// child before that), and "helper got SIGTERM" when it stops on SIGTERM.
func Instance(t testing.TB, uuid, mode string) compute.Instance {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary for the helper process: %v", err)
	}
	return compute.Instance{
		UUID:    uuid,
		Name:    "computetest-" + uuid,
		Flavor:  compute.Flavor{Name: "computetest", VCPUs: 1, MemoryMB: 64, DiskGB: 0},
		Command: []string{exe, "-test.run=^$"},
		Env:     []string{HelperEnv + "=" + mode},
	}
}

func init() {
	mode, ok := os.LookupEnv(HelperEnv)
	if !ok {
		return
	}
	// syscall.Exit rather than os.Exit: a binary built with -race sleeps a
	// second in os.Exit, which would slow down every graceful stop.
	syscall.Exit(runHelper(mode))
}

func runHelper(mode string) int {
	ready := func() { fmt.Printf("helper ready pid=%d mode=%s\n", os.Getpid(), mode) }
	if code, ok := strings.CutPrefix(mode, "exit="); ok {
		n, err := strconv.Atoi(code)
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper: bad exit code %q\n", code)
			return 2
		}
		ready()
		return n
	}
	term := make(chan os.Signal, 1)
	switch mode {
	case HelperSleep:
		signal.Notify(term, syscall.SIGTERM)
	case HelperIgnoreTerm:
		signal.Ignore(syscall.SIGTERM)
	case HelperFork:
		signal.Notify(term, syscall.SIGTERM)
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper: %v\n", err)
			return 2
		}
		child := exec.Command(exe, "-test.run=^$")
		child.Env = []string{HelperEnv + "=" + HelperSleep}
		if err := child.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "helper: start child: %v\n", err)
			return 2
		}
		fmt.Printf("helper child pid=%d\n", child.Process.Pid)
	case HelperPrintEnv:
		signal.Notify(term, syscall.SIGTERM)
		fmt.Println("env-begin")
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		fmt.Println("env-end")
	default:
		fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
		return 2
	}
	ready()
	select {
	case <-term:
		fmt.Println("helper got SIGTERM")
	case <-time.After(helperTTL):
	}
	return 0
}
