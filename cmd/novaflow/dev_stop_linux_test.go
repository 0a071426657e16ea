package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/testenv"
)

// TestDevStopsOnCtrlC runs `novaflow dev` in a process group of its own, as
// a terminal runs a command, sends SIGINT to the whole group, as Ctrl-C
// does, and checks that the whole stack (novaflow, its Temporal dev server
// and PostgreSQL) is gone within 10 s, services first.
func TestDevStopsOnCtrlC(t *testing.T) {
	cli, err := devstack.TemporalCLI(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "novaflow-devstop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	// As root, PostgreSQL runs as the user postgres, which must enter it.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal([]string{"dev",
		"--temporal-port", strconv.Itoa(testenv.FreePort(t)), "--ui-port", strconv.Itoa(testenv.FreePort(t)),
		"--postgres-port", strconv.Itoa(testenv.FreePort(t)), "--health-address", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))})
	cmd := exec.Command(os.Args[0])
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOVAFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, helperEnv+"="+string(raw), "NOVAFLOW_TEMPORAL_CLI="+cli,
		"NOVAFLOW_HOST=devstop", "NOVAFLOW_COMPUTE_DRIVER=fake")
	cmd.Dir = work
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, as a shell gives a foreground job; killed
	// with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("novaflow dev:\n%s", out)
		}
	})
	deadline := time.After(15 * time.Minute) // a first run builds the Temporal CLI
	for !strings.Contains(out.String(), "novaflow dev is running") {
		select {
		case err := <-done:
			t.Fatalf("novaflow dev exited: %v", err)
		case <-deadline:
			t.Fatal("novaflow dev did not start")
		case <-time.After(100 * time.Millisecond):
		}
	}
	children := childrenOf(pid)
	var names []string
	for _, c := range children {
		names = append(names, comm(c))
	}
	if !strings.Contains(strings.Join(names, " "), "postgres") || !strings.Contains(strings.Join(names, " "), "temporal") {
		t.Fatalf("children of novaflow dev: %v, want postgres and temporal", names)
	}

	began := time.Now()
	if err := syscall.Kill(-pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("novaflow dev after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("novaflow dev still runs 10 s after SIGINT")
	}
	for _, c := range children {
		for alive(c) {
			if time.Since(began) > 10*time.Second {
				t.Fatalf("%s (pid %d) still runs 10 s after SIGINT", comm(c), c)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("novaflow dev, Temporal and PostgreSQL gone %s after SIGINT", time.Since(began).Round(time.Millisecond))
	s := out.String()
	services, tmp, pg := strings.Index(s, "stopping the services"), strings.Index(s, "stopping Temporal"), strings.Index(s, "stopping PostgreSQL")
	if services < 0 || tmp < services || pg < tmp {
		t.Errorf("want the services stopped, then Temporal, then PostgreSQL:\n%s", s)
	}
	if strings.Contains(s, "does not answer") {
		t.Errorf("Temporal stopped before the services:\n%s", s)
	}
}

// childrenOf returns the pids of pid's children.
func childrenOf(pid int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, ...
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			c, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, c)
		}
	}
	return out
}

// comm is the command name of pid.
func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// alive reports whether pid runs, a zombie (left to a reaper a container's
// init may not be) counting as gone.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
