//go:build linux

package process_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/computetest"
	"github.com/novaflow/novaflow/drivers/compute/process"
)

// testOptions keep soft reboots short in tests.
var testOptions = map[string]string{"soft_reboot_timeout": "2s"}

const stopTimeout = computetest.PowerOffTimeout

func openDir(t *testing.T, dir string) *process.Driver {
	t.Helper()
	return openWith(t, dir, testOptions)
}

func openWith(t *testing.T, dir string, opts map[string]string) *process.Driver {
	t.Helper()
	d, err := process.Open(compute.Config{Host: "test-host", StateDir: dir, Options: opts})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d
}

// openClean opens a driver that destroys its instances and closes at the
// end of the test.
func openClean(t *testing.T, dir string) *process.Driver {
	t.Helper()
	d := openDir(t, dir)
	t.Cleanup(func() { destroyAll(t, d) })
	return d
}

// openCleanRelative is openClean with AllowRelativeCommands.
func openCleanRelative(t *testing.T, dir string) *process.Driver {
	t.Helper()
	d, err := process.Open(compute.Config{Host: "test-host", StateDir: dir, Options: testOptions, AllowRelativeCommands: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { destroyAll(t, d) })
	return d
}

func destroyAll(t *testing.T, d compute.Driver) {
	t.Helper()
	ctx := context.Background()
	infos, err := d.List(ctx)
	if err == nil {
		for _, i := range infos {
			if err := d.Destroy(ctx, i.UUID); err != nil {
				t.Errorf("cleanup: destroy %s: %v", i.UUID, err)
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Errorf("cleanup: close: %v", err)
	}
}

func TestContract(t *testing.T) {
	computetest.Run(t, func(t *testing.T) compute.Driver { return openDir(t, t.TempDir()) })
}

func TestRegistered(t *testing.T) {
	d, err := compute.Open(process.Name, compute.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("compute.Open(%q): %v", process.Name, err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     compute.Config
		wantErr string
	}{
		{name: "no state dir", cfg: compute.Config{},
			wantErr: "process: state dir is not set"},
		{name: "unknown option", cfg: compute.Config{StateDir: t.TempDir(), Options: map[string]string{"vcpus": "2"}},
			wantErr: `process: unknown option "vcpus" (known: soft_reboot_timeout)`},
		{name: "bad duration", cfg: compute.Config{StateDir: t.TempDir(), Options: map[string]string{"soft_reboot_timeout": "2"}},
			wantErr: `process: option soft_reboot_timeout="2": want a duration of zero or more, like 120s`},
		{name: "negative duration", cfg: compute.Config{StateDir: t.TempDir(), Options: map[string]string{"soft_reboot_timeout": "-1s"}},
			wantErr: `process: option soft_reboot_timeout="-1s": want a duration of zero or more, like 120s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := process.Open(tt.cfg)
			if err == nil {
				d.Close()
				t.Fatalf("Open succeeded, want %q", tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Fatalf("Open error = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestStateDirLocked(t *testing.T) {
	dir := t.TempDir()
	a := openDir(t, dir)
	if b, err := process.Open(compute.Config{StateDir: dir}); err == nil {
		b.Close()
		t.Fatal("second Open of a state dir in use succeeded")
	} else if !strings.Contains(err.Error(), "in use by another process driver") {
		t.Fatalf("second Open error = %v, want it to say the dir is in use", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	openDir(t, dir).Close()
}

// logOf returns the content of an instance's log file.
func logOf(t *testing.T, dir, uuid, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "instances", uuid, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the instance's stdout.log matches re, and returns
// the first submatch, if any.
func waitLog(t *testing.T, dir, uuid, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	eventually(t, fmt.Sprintf("%q in the stdout.log of %s", re, uuid), func() bool {
		m = rx.FindStringSubmatch(logOf(t, dir, uuid, "stdout.log"))
		return m != nil
	})
	if len(m) > 1 {
		return m[1]
	}
	return m[0]
}

// spawnReady spawns a helper instance and waits until it has set up its
// signal handling.
func spawnReady(t *testing.T, d *process.Driver, dir, uuid, mode string) compute.InstanceInfo {
	t.Helper()
	if err := d.Spawn(t.Context(), computetest.Instance(t, uuid, mode)); err != nil {
		t.Fatalf("Spawn(%s): %v", uuid, err)
	}
	info := infoOf(t, d, uuid)
	waitLog(t, dir, uuid, fmt.Sprintf(`helper ready pid=%d `, info.PID))
	return info
}

func infoOf(t *testing.T, d compute.Driver, uuid string) compute.InstanceInfo {
	t.Helper()
	info, err := d.Info(t.Context(), uuid)
	if err != nil {
		t.Fatalf("Info(%s): %v", uuid, err)
	}
	return info
}

// gone reports whether pid has exited (a zombie counts as exited: orphans
// are reaped by pid 1, which may be slow or never do it in a container).
func gone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func TestAdoptAfterRestart(t *testing.T) {
	dir := t.TempDir()
	a := openDir(t, dir)
	before := spawnReady(t, a, dir, "vm-1", computetest.HelperSleep)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := a.Info(t.Context(), "vm-1"); !errors.Is(err, compute.ErrClosed) {
		t.Fatalf("Info on a closed driver = %v, want ErrClosed", err)
	}
	if gone(before.PID) {
		t.Fatal("Close stopped the instance's process")
	}

	b := openClean(t, dir)
	after := infoOf(t, b, "vm-1")
	if after.PowerState != compute.Running || after.PID != before.PID {
		t.Fatalf("adopted instance: %s pid %d, want RUNNING pid %d", after.PowerState, after.PID, before.PID)
	}
	if after.Name != before.Name || after.Flavor != before.Flavor || !after.StartedAt.Equal(before.StartedAt) {
		t.Fatalf("adopted instance info = %+v, want it as before %+v", after, before)
	}
	if err := b.PowerOff(t.Context(), "vm-1", stopTimeout); err != nil {
		t.Fatalf("PowerOff of an adopted instance: %v", err)
	}
	if got := infoOf(t, b, "vm-1"); got.PowerState != compute.Shutdown {
		t.Fatalf("after PowerOff: %s, want SHUTDOWN", got.PowerState)
	}
	if !gone(before.PID) {
		t.Fatalf("pid %d still alive after PowerOff", before.PID)
	}
	if !strings.Contains(logOf(t, dir, "vm-1", "stdout.log"), "helper got SIGTERM") {
		t.Error("the adopted process was not stopped gracefully")
	}
	if err := b.PowerOn(t.Context(), "vm-1"); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	if got := infoOf(t, b, "vm-1"); got.PowerState != compute.Running || got.PID == before.PID {
		t.Fatalf("after PowerOn: %s pid %d, want RUNNING with a new pid", got.PowerState, got.PID)
	}
}

func TestAdoptDeadProcess(t *testing.T) {
	dir := t.TempDir()
	a := openDir(t, dir)
	before := spawnReady(t, a, dir, "vm-1", computetest.HelperSleep)
	a.Close()
	// The process dies while no driver watches it.
	if err := syscall.Kill(-before.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	eventually(t, "the process to exit", func() bool { return gone(before.PID) })

	b := openClean(t, dir)
	got := infoOf(t, b, "vm-1")
	if got.PowerState != compute.Shutdown || got.PID != 0 || got.ExitCode != nil {
		t.Fatalf("instance whose process died: %+v, want SHUTDOWN, no pid, no exit code", got)
	}
	if err := b.PowerOn(t.Context(), "vm-1"); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	if got := infoOf(t, b, "vm-1"); got.PowerState != compute.Running {
		t.Fatalf("after PowerOn: %s, want RUNNING", got.PowerState)
	}
}

// TestAdoptReusedPID: a live process with the recorded pid but another
// start time is not the instance's, and the driver must not touch it.
func TestAdoptReusedPID(t *testing.T) {
	dir := t.TempDir()
	a := openDir(t, dir)
	spawnReady(t, a, dir, "vm-1", computetest.HelperSleep)
	if err := a.PowerOff(t.Context(), "vm-1", 0); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	a.Close()

	// A stranger, leader of its own process group, as after pid reuse.
	stranger := computetest.Instance(t, "stranger", computetest.HelperSleep)
	cmd := exec.Command(stranger.Command[0], stranger.Command[1:]...)
	cmd.Env = stranger.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stranger: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	path := filepath.Join(dir, "instances", "vm-1", "state.json")
	st := readJSON(t, path)
	st["pid"] = cmd.Process.Pid
	st["start_ticks"] = 1 // not the stranger's
	writeJSON(t, path, st)

	b := openClean(t, dir)
	if got := infoOf(t, b, "vm-1"); got.PowerState != compute.Shutdown || got.PID != 0 {
		t.Fatalf("instance with a reused pid: %s pid %d, want SHUTDOWN, no pid", got.PowerState, got.PID)
	}
	for _, op := range []func() error{
		func() error { return b.PowerOff(t.Context(), "vm-1", 0) },
		func() error { return b.PowerOn(t.Context(), "vm-1") },
		func() error { return b.Destroy(t.Context(), "vm-1") },
	} {
		if err := op(); err != nil {
			t.Fatalf("operation: %v", err)
		}
		if gone(cmd.Process.Pid) {
			t.Fatal("the driver killed a process that is not its own")
		}
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return m
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExitOnItsOwn(t *testing.T) {
	tests := []struct {
		name string
		code int
	}{
		{"success", 0},
		{"failure", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d := openClean(t, dir)
			if err := d.Spawn(t.Context(), computetest.Instance(t, "vm-1", computetest.HelperExit(tt.code))); err != nil {
				t.Fatalf("Spawn: %v", err)
			}
			pid := 0
			var info compute.InstanceInfo
			eventually(t, "the instance to stop", func() bool {
				info = infoOf(t, d, "vm-1")
				if info.PID != 0 {
					pid = info.PID
				}
				return info.PowerState == compute.Shutdown
			})
			if info.ExitCode == nil || *info.ExitCode != tt.code || info.PID != 0 {
				t.Fatalf("Info = %+v, want SHUTDOWN with exit code %d", info, tt.code)
			}
			if pid != 0 {
				eventually(t, "the process to be reaped", func() bool {
					_, err := os.Stat("/proc/" + strconv.Itoa(pid))
					return errors.Is(err, os.ErrNotExist)
				})
			}
			// Powering off an instance that stopped on its own is fine.
			if err := d.PowerOff(t.Context(), "vm-1", stopTimeout); err != nil {
				t.Fatalf("PowerOff: %v", err)
			}
		})
	}
}

func TestPowerOffGraceful(t *testing.T) {
	dir := t.TempDir()
	d := openClean(t, dir)
	before := spawnReady(t, d, dir, "vm-1", computetest.HelperSleep)
	if err := d.PowerOff(t.Context(), "vm-1", stopTimeout); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	got := infoOf(t, d, "vm-1")
	if got.PowerState != compute.Shutdown || got.ExitCode == nil || *got.ExitCode != 0 {
		t.Fatalf("after PowerOff: %+v, want SHUTDOWN with exit code 0", got)
	}
	if !gone(before.PID) {
		t.Fatalf("pid %d still alive", before.PID)
	}
	waitLog(t, dir, "vm-1", "helper got SIGTERM")
}

func TestPowerOffEscalates(t *testing.T) {
	dir := t.TempDir()
	d := openClean(t, dir)
	before := spawnReady(t, d, dir, "vm-1", computetest.HelperIgnoreTerm)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	if err := d.PowerOff(t.Context(), "vm-1", timeout); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	if took := time.Since(start); took < timeout || took > timeout+5*time.Second {
		t.Errorf("PowerOff took %v, want a little more than %v", took, timeout)
	}
	got := infoOf(t, d, "vm-1")
	if got.PowerState != compute.Shutdown || got.ExitCode == nil || *got.ExitCode != 128+int(syscall.SIGKILL) {
		t.Fatalf("after PowerOff: %+v, want SHUTDOWN killed by SIGKILL (137)", got)
	}
	if !gone(before.PID) {
		t.Fatalf("pid %d still alive", before.PID)
	}
}

func TestSoftRebootEscalates(t *testing.T) {
	dir := t.TempDir()
	d := openWith(t, dir, map[string]string{"soft_reboot_timeout": "300ms"})
	t.Cleanup(func() { destroyAll(t, d) })
	before := spawnReady(t, d, dir, "vm-1", computetest.HelperIgnoreTerm)
	start := time.Now()
	if err := d.Reboot(t.Context(), "vm-1", false); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("soft Reboot took %v, want at least the soft reboot timeout", took)
	}
	got := infoOf(t, d, "vm-1")
	if got.PowerState != compute.Running || got.PID == before.PID || !gone(before.PID) {
		t.Fatalf("after Reboot: %s pid %d (old pid %d gone: %v), want RUNNING with a new pid",
			got.PowerState, got.PID, before.PID, gone(before.PID))
	}
}

func childPID(t *testing.T, dir, uuid string) int {
	t.Helper()
	pid, err := strconv.Atoi(waitLog(t, dir, uuid, `helper child pid=(\d+)`))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestNoProcessLeftBehind(t *testing.T) {
	tests := []struct {
		name string
		op   func(ctx context.Context, d *process.Driver) error
	}{
		{"destroy", func(ctx context.Context, d *process.Driver) error { return d.Destroy(ctx, "vm-1") }},
		{"power off", func(ctx context.Context, d *process.Driver) error { return d.PowerOff(ctx, "vm-1", stopTimeout) }},
		{"hard reboot", func(ctx context.Context, d *process.Driver) error { return d.Reboot(ctx, "vm-1", true) }},
		{"soft reboot", func(ctx context.Context, d *process.Driver) error { return d.Reboot(ctx, "vm-1", false) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d := openClean(t, dir)
			leader := spawnReady(t, d, dir, "vm-1", computetest.HelperFork).PID
			child := childPID(t, dir, "vm-1")
			if gone(child) {
				t.Fatalf("child %d is not running", child)
			}
			if err := tt.op(t.Context(), d); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if !gone(leader) || !gone(child) {
				t.Fatalf("after %s: leader %d gone %v, child %d gone %v; want both gone",
					tt.name, leader, gone(leader), child, gone(child))
			}
			if tt.name == "destroy" {
				if _, err := os.Stat(filepath.Join(dir, "instances", "vm-1")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("instance directory after Destroy: %v, want it removed", err)
				}
			}
		})
	}
}

// TestStragglersOfExitedLeader: when the leader dies and leaves a child in
// its group, the instance is SHUTDOWN and the next start or destroy kills
// the child, also from a driver opened after a restart.
func TestStragglersOfExitedLeader(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			dir := t.TempDir()
			d := openDir(t, dir)
			leader := spawnReady(t, d, dir, "vm-1", computetest.HelperFork).PID
			child := childPID(t, dir, "vm-1")
			if err := syscall.Kill(leader, syscall.SIGKILL); err != nil {
				t.Fatalf("kill leader: %v", err)
			}
			eventually(t, "SHUTDOWN", func() bool { return infoOf(t, d, "vm-1").PowerState == compute.Shutdown })
			if gone(child) {
				t.Fatal("the child died with its parent; the test needs it alive")
			}
			if restart {
				d.Close()
				d = openDir(t, dir)
				if got := infoOf(t, d, "vm-1"); got.PowerState != compute.Shutdown {
					t.Fatalf("after restart: %s, want SHUTDOWN", got.PowerState)
				}
			}
			t.Cleanup(func() { destroyAll(t, d) })
			if err := d.PowerOn(t.Context(), "vm-1"); err != nil {
				t.Fatalf("PowerOn: %v", err)
			}
			if !gone(child) {
				t.Fatalf("child %d of the previous run survived PowerOn", child)
			}
		})
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	d := openClean(t, dir)
	info := spawnReady(t, d, dir, "vm-1", computetest.HelperSleep)
	instDir := filepath.Join(dir, "instances", "vm-1")
	path := filepath.Join(instDir, "state.json")

	st := readJSON(t, path)
	for _, key := range []string{"version", "uuid", "name", "flavor", "command", "env", "desired_power_state", "pid", "start_ticks", "started_at"} {
		if _, ok := st[key]; !ok {
			t.Errorf("state.json has no %q: %v", key, st)
		}
	}
	if st["uuid"] != "vm-1" || st["desired_power_state"] != "RUNNING" || st["pid"] != float64(info.PID) {
		t.Errorf("state.json = %v, want uuid vm-1, RUNNING, pid %d", st, info.PID)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", info.PID))
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	// JSON numbers decode as float64; print it in full, not as 1.07e+06.
	ticks, _ := st["start_ticks"].(float64)
	if want := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[19]; strconv.FormatFloat(ticks, 'f', -1, 64) != want {
		t.Errorf("state.json start_ticks = %v, want %s from /proc", st["start_ticks"], want)
	}

	if err := d.PowerOff(t.Context(), "vm-1", stopTimeout); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	st = readJSON(t, path)
	if st["desired_power_state"] != "SHUTDOWN" || st["pid"] != nil {
		t.Errorf("state.json after PowerOff = %v, want SHUTDOWN and no pid", st)
	}

	entries, err := os.ReadDir(instDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "state.json stderr.log stdout.log" {
		t.Errorf("instance directory holds %q, want state.json, stderr.log, stdout.log", got)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{instDir, 0o700}, {path, 0o600}, {filepath.Join(instDir, "stdout.log"), 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.mode {
			t.Errorf("%s has mode %v, want %v", filepath.Base(c.path), fi.Mode().Perm(), c.mode)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("NOVAFLOW_TEST_SECRET", "must-not-leak")
	dir := t.TempDir()
	d := openClean(t, dir)
	inst := computetest.Instance(t, "vm-1", computetest.HelperPrintEnv)
	inst.Env = append(inst.Env, "GREETING=hello world")
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	env := waitLog(t, dir, "vm-1", `(?s)env-begin\n(.*)env-end`)
	lines := strings.Split(strings.TrimSpace(env), "\n")
	want := map[string]bool{
		"GREETING=hello world": true,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin": true,
		computetest.HelperEnv + "=" + computetest.HelperPrintEnv:            true,
	}
	for _, l := range lines {
		if !want[l] {
			t.Errorf("unexpected environment entry %q", l)
		}
		delete(want, l)
	}
	for l := range want {
		t.Errorf("missing environment entry %q", l)
	}
}

func TestLogs(t *testing.T) {
	dir := t.TempDir()
	d := openClean(t, dir)
	spawnReady(t, d, dir, "vm-1", computetest.HelperSleep)
	if err := d.Reboot(t.Context(), "vm-1", false); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	waitLog(t, dir, "vm-1", `(?s)helper ready.*helper got SIGTERM.*helper ready`)
}

func TestSpawnBadProgram(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(notExecutable, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		command  []string
		env      []string
		relative bool // open with AllowRelativeCommands
		wantIs   error
		wantNot  error
	}{
		{name: "not in PATH", command: []string{"novaflow-no-such-program"}, relative: true, wantIs: exec.ErrNotFound, wantNot: compute.ErrInvalid},
		{name: "no such absolute path", command: []string{"/nonexistent/novaflow"}, wantIs: os.ErrNotExist, wantNot: compute.ErrInvalid},
		{name: "not executable", command: []string{notExecutable}, wantIs: os.ErrPermission, wantNot: compute.ErrInvalid},
		{name: "relative PATH entry", command: []string{"sleep"}, env: []string{"PATH=bin:."}, relative: true, wantIs: exec.ErrNotFound},
		{name: "relative path", command: []string{"./sleep", "1"}, wantIs: compute.ErrInvalid},
		{name: "relative path allowed relative", command: []string{"bin/sleep", "1"}, relative: true, wantIs: compute.ErrInvalid},
		{name: "name without AllowRelativeCommands", command: []string{"sleep", "1"}, wantIs: compute.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var d *process.Driver
			if tt.relative {
				d = openCleanRelative(t, dir)
			} else {
				d = openClean(t, dir)
			}
			inst := computetest.Instance(t, "vm-1", computetest.HelperSleep)
			inst.Command, inst.Env = tt.command, tt.env
			err := d.Spawn(t.Context(), inst)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Spawn = %v, want %v", err, tt.wantIs)
			}
			if tt.wantNot != nil && errors.Is(err, tt.wantNot) {
				t.Fatalf("Spawn = %v, must not match %v", err, tt.wantNot)
			}
			if _, err := d.Info(t.Context(), "vm-1"); !errors.Is(err, compute.ErrNotFound) {
				t.Fatalf("Info after a failed Spawn = %v, want ErrNotFound", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "instances", "vm-1")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("instance directory after a failed Spawn: %v, want none", err)
			}
		})
	}
}

func TestSpawnFromPATH(t *testing.T) {
	dir := t.TempDir()
	d := openCleanRelative(t, dir)
	inst := computetest.Instance(t, "vm-1", computetest.HelperSleep)
	inst.Command = []string{"sleep", "60"}
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatalf("Spawn(sleep): %v", err)
	}
	if got := infoOf(t, d, "vm-1"); got.PowerState != compute.Running {
		t.Fatalf("sleep: %s, want RUNNING", got.PowerState)
	}
}

func TestBrokenState(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "instances", "vm-broken")
	if err := os.MkdirAll(broken, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Debris that Open ignores or cleans up.
	if err := os.WriteFile(filepath.Join(broken, ".state.json.tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "instances", "not-a-dir"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	d := openClean(t, dir)
	list, err := d.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].UUID != "vm-broken" || list[0].PowerState != compute.NoState {
		t.Fatalf("List = %+v, want vm-broken NOSTATE", list)
	}
	if _, err := os.Stat(filepath.Join(broken, ".state.json.tmp-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary state file not removed: %v", err)
	}
	if err := d.PowerOn(t.Context(), "vm-broken"); err == nil || !strings.Contains(err.Error(), "unreadable state") {
		t.Fatalf("PowerOn of a broken instance = %v, want an unreadable state error", err)
	}
	if err := d.Destroy(t.Context(), "vm-broken"); err != nil {
		t.Fatalf("Destroy of a broken instance: %v", err)
	}
	if _, err := os.Stat(broken); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("broken instance directory after Destroy: %v", err)
	}
}

func TestResources(t *testing.T) {
	d := openClean(t, t.TempDir())
	r, err := d.Resources(t.Context())
	if err != nil {
		t.Fatalf("Resources: %v", err)
	}
	if r.VCPUs != runtime.NumCPU() {
		t.Errorf("VCPUs = %d, want runtime.NumCPU() = %d", r.VCPUs, runtime.NumCPU())
	}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	var kb int
	if _, err := fmt.Sscanf(string(meminfo), "MemTotal: %d kB", &kb); err != nil {
		t.Fatalf("parse /proc/meminfo: %v", err)
	}
	if r.MemoryMB != kb/1024 {
		t.Errorf("MemoryMB = %d, want %d", r.MemoryMB, kb/1024)
	}
	if r.DiskGB <= 0 {
		t.Errorf("DiskGB = %d, want positive", r.DiskGB)
	}
}

// TestCancelDuringPowerOff: a cancelled context ends the wait of PowerOff;
// a later PowerOff finishes the job.
func TestCancelDuringPowerOff(t *testing.T) {
	dir := t.TempDir()
	d := openClean(t, dir)
	before := spawnReady(t, d, dir, "vm-1", computetest.HelperIgnoreTerm)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := d.PowerOff(ctx, "vm-1", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PowerOff with a short context = %v, want DeadlineExceeded", err)
	}
	if err := d.PowerOff(t.Context(), "vm-1", 0); err != nil {
		t.Fatalf("forced PowerOff: %v", err)
	}
	if !gone(before.PID) {
		t.Fatalf("pid %d still alive", before.PID)
	}
}
