package devstack

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChildrenDieWithParent starts postgres and a Temporal dev server from a
// helper process, kills the helper with SIGKILL (no chance to clean up) and
// checks that both servers exit.
func TestChildrenDieWithParent(t *testing.T) {
	t.Parallel()
	cli, err := TemporalCLI(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := postgresTempDir(t)
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperStartsServers$")
	helper.Env = append(os.Environ(), "DEVSTACK_TEST_HELPER_DATADIR="+dataDir, "NOVAFLOW_TEMPORAL_CLI="+cli)
	helper.Stderr = os.Stderr
	helper.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			for _, f := range strings.Fields(rest) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
			break
		}
	}
	if len(pids) != 2 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper did not report the pids of postgres and temporal (got %v)", pids)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				for _, pid := range pids {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Fatalf("process %d still ran 30s after its parent was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := os.Stat(dataDir + "/postmaster.pid"); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid after the parent died: %v, want a clean shutdown to remove it", err)
	}
}

// running reports whether pid is a live process, not a zombie waiting for a
// reaper that a container's init may not be.
func running(pid int) bool {
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

// TestHelperStartsServers is the helper process of TestChildrenDieWithParent;
// it does nothing in a normal run.
func TestHelperStartsServers(t *testing.T) {
	dataDir := os.Getenv("DEVSTACK_TEST_HELPER_DATADIR")
	if dataDir == "" {
		return
	}
	ctx := context.Background()
	pg, err := StartPostgres(ctx, PostgresOptions{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := StartTemporal(ctx, TemporalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PIDS %d %d\n", pg.proc.cmd.Process.Pid, tmp.proc.cmd.Process.Pid)
	select {}
}

// TestChildHasItsOwnProcessGroup: a child is not in its parent's process
// group, so a terminal's Ctrl-C, sent to the foreground group, does not reach
// it; the parent stops it. kill ends it at once.
func TestChildHasItsOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p, err := startProcess("sleep", exec.Command("sleep", "60"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != pid || pgid == syscall.Getpgrp() {
		t.Errorf("child %d in process group %d (the test's is %d), want a group of its own", pid, pgid, syscall.Getpgrp())
	}
	// SIGINT to the test's group, as a terminal's Ctrl-C, would not reach
	// it; signal the child's group only, to check it is there.
	if err := syscall.Kill(-pgid, 0); err != nil {
		t.Errorf("process group %d: %v", pgid, err)
	}
	start := time.Now()
	if err := p.kill(); err != nil {
		t.Errorf("kill: %v", err)
	}
	if done, _ := p.exited(); !done || time.Since(start) > 5*time.Second {
		t.Errorf("kill: exited %v after %s", done, time.Since(start))
	}
}
