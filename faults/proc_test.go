//go:build linux

package faults

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/testenv"
)

// proc is a process a test started: a novaflow binary or a service run by
// this test binary (startService).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

// startProcess starts bin with args and env (on top of this environment
// less novaflow's settings) in a directory of its own. It gets SIGKILL if
// this test binary dies, and when the test ends if it still runs.
func startProcess(t *testing.T, bin string, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv(env)
	cmd.Dir = t.TempDir()
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: bin, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// startService runs the service of topic as a process of its own: this test
// binary as `novaflow run <topic>` (TestMain), with env.
func startService(t *testing.T, topic string, env map[string]string) *proc {
	t.Helper()
	all := map[string]string{serviceEnv: topic}
	for k, v := range env {
		all[k] = v
	}
	p := startProcess(t, os.Args[0], all, "-test.run=^$")
	p.name = topic + " on " + env["NOVAFLOW_HOST"]
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) output() string { return p.out.String() }

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit code, failing the test if the
// process runs on for a minute.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s: no exit within a minute of SIGTERM", p.name)
	}
	return p.cmd.ProcessState.ExitCode()
}
