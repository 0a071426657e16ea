package devstack

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long Stop waits after SIGINT before it kills a child.
const stopTimeout = 30 * time.Second

// process is a started child process whose exit is observed in the background.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // result of cmd.Wait, valid once done is closed
}

// startProcess starts cmd with the attributes every devstack child gets (a
// process group of its own, setOwnProcessGroup, and the parent-death signal,
// setDeathSignal) and watches for its exit.
func startProcess(name string, cmd *exec.Cmd, as *osUser) (*process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setOwnProcessGroup(cmd.SysProcAttr)
	setDeathSignal(cmd.SysProcAttr)
	if as != nil {
		as.apply(cmd.SysProcAttr)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop asks the process to shut down with SIGINT, waits up to stopTimeout and
// then kills it. An exit caused by the SIGINT is not an error.
func (p *process) stop() error {
	if done, _ := p.exited(); done {
		return p.exitError()
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		// Signals other than Kill are not supported everywhere (Windows).
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
		return p.exitError()
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("stopping %s: no exit within %s of SIGINT, killed it", p.name, stopTimeout)
	}
}

// kill kills the process at once and waits for it: for a child that is
// known not to answer (see Temporal.Kill).
func (p *process) kill() error {
	if done, _ := p.exited(); done {
		return p.exitError()
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// exitError is the process's exit status as an error, nil for a clean exit
// or one caused by SIGINT.
func (p *process) exitError() error {
	var exitErr *exec.ExitError
	if errors.As(p.err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
			return nil
		}
	}
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	}
	return nil
}

// FreePort returns a TCP port on host that was free a moment ago.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer is an io.Writer that keeps the last bytes written to it, so that
// an error can show the end of a child's log.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

// Write keeps the tail of p; it never fails.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns the kept tail, starting at a line boundary when possible.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.buf)
	if len(b.buf) >= b.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(s, "\n")
}

// logTail formats the tail of a child's output for an error message.
func logTail(what string, b *tailBuffer) string {
	s := b.String()
	if s == "" {
		return ""
	}
	return fmt.Sprintf("\n--- end of %s ---\n%s\n---", what, s)
}
