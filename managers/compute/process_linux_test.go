package compute_test

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
	_ "github.com/novaflow/novaflow/drivers/compute/process"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// processManager opens a compute manager with the process driver on dir.
func processManager(t *testing.T, e *env, dir string) *computemgr.Manager {
	t.Helper()
	cfg := managers.Defaults[computemgr.Settings]()
	cfg.Driver, cfg.StateDir, cfg.ShutdownTimeout = "process", dir, 5*time.Second
	cfg.AllowRelativeCommands = true // the instances run "sleep"
	m, err := computemgr.New(managers.Deps{Host: e.host, DB: e.pool, Logger: slog.New(slog.DiscardHandler), Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.InitHost(context.Background(), nil); err != nil {
		t.Fatalf("InitHost: %v", err)
	}
	if err := m.PreStartHook(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return m
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// pidOf is the instance's process id as the driver reports it.
func pidOf(t *testing.T, m *computemgr.Manager, u string) int {
	t.Helper()
	info, err := m.Driver().Info(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return info.PID
}

// TestProcessDriverLifecycle runs an instance as a real process through
// every operation, a kill from outside and a restart of the service.
func TestProcessDriverLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	dir := t.TempDir()
	m := processManager(t, e, dir)
	t.Cleanup(func() { _ = m.CleanupHost(context.Background()) })
	u := e.create(t, tiny)
	t.Cleanup(func() { _, _ = m.TerminateInstance(context.Background(), computemgr.InstanceRequest{InstanceUUID: u}) })

	if _, err := m.BuildAndRunInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u}); err != nil {
		t.Fatalf("build: %v", err)
	}
	pid := pidOf(t, m, u)
	if !alive(pid) {
		t.Fatalf("no process %d after build", pid)
	}
	if _, err := m.StopInstance(ctx, computemgr.StopRequest{InstanceUUID: u}); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(t, u), store.Stopped, store.NoTask, compute.Shutdown)
	if alive(pid) {
		t.Errorf("process %d still runs after stop", pid)
	}
	if _, err := m.StartInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u}); err != nil {
		t.Fatal(err)
	}
	pid = pidOf(t, m, u)
	if _, err := m.RebootInstance(ctx, computemgr.RebootRequest{InstanceUUID: u, RebootType: "HARD"}); err != nil {
		t.Fatal(err)
	}
	if next := pidOf(t, m, u); next == pid || !alive(next) || alive(pid) {
		t.Errorf("hard reboot: pid %d -> %d", pid, next)
	}
	wantState(t, e.get(t, u), store.Active, store.NoTask, compute.Running)

	// Killed from outside: the next sync stops it in the database.
	pid = pidOf(t, m, u)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pidOf(t, m, u) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := m.SyncPowerStates(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(t, u), store.Stopped, store.NoTask, compute.Shutdown)

	// The service restarts: its running instance is adopted, not restarted.
	if _, err := m.StartInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u}); err != nil {
		t.Fatal(err)
	}
	pid = pidOf(t, m, u)
	if err := m.CleanupHost(ctx); err != nil {
		t.Fatal(err)
	}
	if !alive(pid) {
		t.Fatalf("process %d died with the compute service", pid)
	}
	m = processManager(t, e, dir)
	if got := pidOf(t, m, u); got != pid {
		t.Errorf("after restart: pid %d, want %d adopted", got, pid)
	}
	wantState(t, e.get(t, u), store.Active, store.NoTask, compute.Running)

	if _, err := m.TerminateInstance(ctx, computemgr.InstanceRequest{InstanceUUID: u}); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("process %d still runs after terminate", pid)
	}
	wantState(t, e.get(t, u), store.Deleted, store.NoTask, compute.NoState)
}
