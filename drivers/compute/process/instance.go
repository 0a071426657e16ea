//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// defaultPath is the PATH of an instance whose Env sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// killWait is how long a stop waits for the group to be gone after SIGKILL.
const killWait = 10 * time.Second

// instance is one instance of the driver.
type instance struct {
	uuid string
	dir  string

	// op serializes the operations that change the instance; it is a
	// channel so that waiting for it can be cancelled.
	op chan struct{}

	mu     sync.Mutex // guards the fields below; held briefly
	st     state      // as in state.json
	broken error      // state.json is unreadable: NOSTATE, only Destroy works
	run    *run       // the current or last run seen by this driver, or nil
	gone   bool       // destroyed, or its Spawn failed
}

func newInstance(uuid, dir string) *instance {
	return &instance{uuid: uuid, dir: dir, op: make(chan struct{}, 1)}
}

// lock takes the operation lock of in, or fails when ctx is done first.
func (in *instance) lock(ctx context.Context) error {
	select {
	case in.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *instance) unlock() { <-in.op }

// run is one run of an instance: its group leader process.
type run struct {
	pid        int
	startTicks uint64
	startedAt  time.Time
	child      bool          // started by this driver, reaped by a goroutine
	done       chan struct{} // closed once the leader has exited
	once       sync.Once
	exitCode   *int // the exit status, set before done is closed, if known
}

func newRun(pid int, startTicks uint64, startedAt time.Time, child bool) *run {
	return &run{pid: pid, startTicks: startTicks, startedAt: startedAt, child: child, done: make(chan struct{})}
}

// exited records that the leader has exited, with its status if known.
func (r *run) exited(code *int) {
	r.once.Do(func() {
		r.exitCode = code
		close(r.done)
	})
}

// alive reports whether the leader is alive. A child is alive until it is
// reaped; an adopted process is checked now.
func (r *run) alive() bool {
	select {
	case <-r.done:
		return false
	default:
	}
	if r.child || processAlive(r.pid, r.startTicks) {
		return true
	}
	r.exited(nil)
	return false
}

func (r *run) group() group { return group{pgid: r.pid, startTicks: r.startTicks} }

// info reports on the instance.
func (in *instance) info() (compute.InstanceInfo, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.gone {
		return compute.InstanceInfo{}, fmt.Errorf("instance %q: %w", in.uuid, compute.ErrNotFound)
	}
	info := compute.InstanceInfo{
		UUID:       in.uuid,
		Name:       in.st.Name,
		Flavor:     in.st.Flavor,
		PowerState: compute.Shutdown,
		StartedAt:  in.st.StartedAt,
	}
	if in.broken != nil {
		info.PowerState = compute.NoState
		return info, nil
	}
	if r := in.run; r != nil {
		info.StartedAt = r.startedAt
		if r.alive() {
			info.PowerState = compute.Running
			info.PID = r.pid
		} else if r.exitCode != nil {
			code := *r.exitCode
			info.ExitCode = &code
		}
	}
	return info, nil
}

// running returns the current run if its leader is alive.
func (in *instance) running() *run {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.run != nil && in.run.alive() {
		return in.run
	}
	return nil
}

// state returns the instance's state, or why it is unusable.
func (in *instance) state() (state, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.broken != nil {
		return state{}, fmt.Errorf("instance %q has an unreadable state (only destroy works): %w", in.uuid, in.broken)
	}
	return in.st, nil
}

// save writes st to state.json, then makes it the instance's state. The
// caller holds the operation lock.
func (in *instance) save(st state) error {
	if err := writeState(in.dir, st); err != nil {
		return err
	}
	in.mu.Lock()
	in.st = st
	in.mu.Unlock()
	return nil
}

// groups returns the process groups the instance may have processes in:
// the current run's, and the one in state.json if it differs (a run from
// before the driver was opened whose leader has exited).
func (in *instance) groups() []group {
	in.mu.Lock()
	defer in.mu.Unlock()
	var gs []group
	if in.run != nil {
		gs = append(gs, in.run.group())
	}
	if g := in.st.group(); g.pgid > 0 && (len(gs) == 0 || gs[0] != g) {
		gs = append(gs, g)
	}
	return gs
}

// stop stops every process of the instance: SIGTERM to its process group,
// then SIGKILL once timeout has passed (at once if timeout <= 0). It returns
// when no process of the group is left. The caller holds the operation lock.
func (in *instance) stop(ctx context.Context, timeout time.Duration) error {
	r := in.running()
	for _, g := range in.groups() {
		var leader *run
		if r != nil && r.group() == g {
			leader = r
		}
		if err := stopGroup(ctx, g, leader, timeout); err != nil {
			return fmt.Errorf("stop instance %q: %w", in.uuid, err)
		}
	}
	return nil
}

var errTimeout = errors.New("timed out")

func stopGroup(ctx context.Context, g group, leader *run, timeout time.Duration) error {
	if timeout > 0 {
		empty, err := groupEmpty(g, leader)
		if err != nil || empty {
			return err
		}
		if err := g.signal(syscall.SIGTERM); err != nil {
			return err
		}
		err = waitEmpty(ctx, g, leader, timeout)
		if !errors.Is(err, errTimeout) {
			return err
		}
	}
	empty, err := groupEmpty(g, leader)
	if err != nil || empty {
		return err
	}
	if err := g.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if err := waitEmpty(ctx, g, leader, killWait); err != nil {
		return fmt.Errorf("process group %d after SIGKILL: %w", g.pgid, err)
	}
	return nil
}

// groupEmpty reports whether the leader (if any) and every other process
// of g have exited.
func groupEmpty(g group, leader *run) (bool, error) {
	if leader != nil && leader.alive() {
		return false, nil
	}
	pids, err := g.members()
	return len(pids) == 0, err
}

// waitEmpty polls until g is empty, ctx is done, or timeout has passed.
func waitEmpty(ctx context.Context, g group, leader *run, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var done <-chan struct{}
	if leader != nil {
		done = leader.done
	}
	poll := 5 * time.Millisecond
	for {
		empty, err := groupEmpty(g, leader)
		if err != nil || empty {
			return err
		}
		tick := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			tick.Stop()
			return ctx.Err()
		case <-deadline.C:
			tick.Stop()
			return fmt.Errorf("processes left after %v: %w", timeout, errTimeout)
		case <-done:
			done = nil // the leader is gone; poll for the rest
			tick.Stop()
		case <-tick.C:
		}
		poll = min(2*poll, 50*time.Millisecond)
	}
}

// start starts a new run of the instance from its state and records it in
// state.json. The caller holds the operation lock and has stopped any
// previous run.
func (in *instance) start() error {
	st, err := in.state()
	if err != nil {
		return err
	}
	env := instanceEnv(st.Env)
	path, err := lookPath(st.Command[0], env)
	if err != nil {
		return fmt.Errorf("start instance %q: %w", in.uuid, err)
	}
	stdout, err := openLog(filepath.Join(in.dir, stdoutFile))
	if err != nil {
		return fmt.Errorf("start instance %q: %w", in.uuid, err)
	}
	defer stdout.Close()
	stderr, err := openLog(filepath.Join(in.dir, stderrFile))
	if err != nil {
		return fmt.Errorf("start instance %q: %w", in.uuid, err)
	}
	defer stderr.Close()

	cmd := &exec.Cmd{
		Path:        path,
		Args:        st.Command,
		Env:         env,
		Dir:         in.dir,
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start instance %q: %w", in.uuid, err)
	}
	startedAt := time.Now()
	pid := cmd.Process.Pid
	ps, err := readStat(pid) // not reaped yet, so the pid is still ours
	if err != nil {
		err = fmt.Errorf("start instance %q: read start time of pid %d: %w", in.uuid, pid, err)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return err
	}
	r := newRun(pid, ps.startTicks, startedAt, true)
	go reap(cmd, r)

	st.Desired = compute.Running
	st.PID, st.StartTicks, st.StartedAt = pid, ps.startTicks, startedAt
	if err := in.save(st); err != nil {
		err = fmt.Errorf("start instance %q: %w", in.uuid, err)
		if serr := stopGroup(context.Background(), r.group(), r, 0); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	in.mu.Lock()
	in.run = r
	in.mu.Unlock()
	return nil
}

// reap waits for the leader of a run started by this driver, so that it
// does not stay a zombie, and records how it exited.
func reap(cmd *exec.Cmd, r *run) {
	_ = cmd.Wait()
	r.exited(exitCode(cmd.ProcessState))
}

// exitCode returns the exit code of a process, or 128+N if signal N killed
// it; nil if unknown.
func exitCode(ps *os.ProcessState) *int {
	if ps == nil {
		return nil
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return nil
	}
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return &code
}

func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// instanceEnv returns the environment of an instance: env, with the
// default PATH added when env sets none.
func instanceEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	out = append(out, env...)
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return out
		}
	}
	return append(out, "PATH="+defaultPath)
}

// checkProgram rejects a Command[0] that is a relative path with a slash,
// and, unless allowRelative, any that is not an absolute path. env is the
// instance's environment, whose PATH the message shows the program in.
func checkProgram(name string, env []string, allowRelative bool) error {
	switch {
	case filepath.IsAbs(name):
		return nil
	case strings.Contains(name, "/"):
		return &compute.InvalidError{
			Field:  "command[0]",
			Reason: fmt.Sprintf("%q is a relative path: want an absolute path", name),
		}
	case !allowRelative:
		hint := ""
		if p, err := lookPath(name, env); err == nil {
			hint = fmt.Sprintf(" (%s here)", p)
		}
		return &compute.InvalidError{
			Field: "command[0]",
			Reason: fmt.Sprintf("%q is not an absolute path: give the program's full path%s; "+
				"this host does not look commands up in PATH (NOVAFLOW_COMPUTE_ALLOW_RELATIVE_COMMANDS)", name, hint),
		}
	}
	return nil
}

// lookPath finds the executable name: an absolute path as is, a bare name
// in the absolute directories of the PATH in env (the last PATH wins, as in
// os/exec).
func lookPath(name string, env []string) (string, error) {
	if filepath.IsAbs(name) {
		if err := executable(name); err != nil {
			return "", fmt.Errorf("executable %q: %w", name, err)
		}
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = p
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue // never resolve against the compute service's directory
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %q: %w", name, path, exec.ErrNotFound)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("is a directory: %w", exec.ErrNotFound)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("not executable: %w", os.ErrPermission)
	}
	return nil
}
