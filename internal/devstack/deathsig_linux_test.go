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
