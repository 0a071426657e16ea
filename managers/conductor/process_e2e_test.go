package conductor_test

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
	_ "github.com/novaflow/novaflow/drivers/compute/process"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// TestLifecycleOnProcessDriver builds an instance as a real OS process
// through the conductor, then stops, starts, reboots and terminates it with
// calls that name only its UUID, all through the real runtime, Temporal and
// PostgreSQL, and checks the process at each step.
func TestLifecycleOnProcessDriver(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, 0)
	host := testenv.UniqueName(t, "proc")
	settings := managers.Defaults[computemgr.Settings]()
	settings.Driver = "process"
	settings.StateDir = t.TempDir()
	settings.ShutdownTimeout = 2 * time.Second
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = host, c.srv.Address(), c.srv.Namespace(), c.dbURL
	cfg.ReportInterval, cfg.ServiceDownTime, cfg.PeriodicEnable = 0, time.Minute, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel = 5*time.Second, "warn"
	svc, err := worker.Create(cfg, worker.Options{Topic: "compute", Temporal: c.tc, DB: c.pool,
		Logger: slog.New(slog.DiscardHandler), ManagerConfig: &settings})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	drv := svc.Manager().(*computemgr.Manager).Driver()

	res, err := c.build(`{"name":"proc","flavor":{"vcpus":1,"memory_mb":16,"disk_gb":0},"image":{"command":["/bin/sleep","3600"]}}`)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	uuid := res.Instances[0].UUID
	// A failing test leaves no process behind.
	t.Cleanup(func() { _ = drv.Destroy(context.Background(), uuid) })
	if res.Instances[0].Host != host {
		t.Fatalf("built on %s, want %s", res.Instances[0].Host, host)
	}
	pid := func() int {
		t.Helper()
		info, err := drv.Info(ctx, uuid)
		if err != nil {
			t.Fatal(err)
		}
		return info.PID
	}
	alive := func(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }
	first := pid()
	if !alive(first) {
		t.Fatalf("no live process for the instance (pid %d)", first)
	}

	rc, err := rpc.New(rpc.Options{Temporal: c.tc})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method string, req map[string]any, want store.VMState) {
		t.Helper()
		req["instance_uuid"] = uuid
		var inst store.Instance
		if err := rc.Call(ctx, "compute", method, req, &inst); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if inst.VMState != want {
			t.Fatalf("%s: vm_state %s, want %s", method, inst.VMState, want)
		}
	}

	call("stop_instance", map[string]any{}, store.Stopped)
	if alive(first) {
		t.Fatalf("process %d still runs after stop_instance", first)
	}
	call("start_instance", map[string]any{}, store.Active)
	second := pid()
	if second == first || !alive(second) {
		t.Fatalf("start_instance: pid %d (was %d), alive %t", second, first, alive(second))
	}
	call("reboot_instance", map[string]any{"reboot_type": "HARD"}, store.Active)
	third := pid()
	if third == second || !alive(third) || alive(second) {
		t.Fatalf("hard reboot: pid %d (was %d), new alive %t, old alive %t", third, second, alive(third), alive(second))
	}
	call("terminate_instance", map[string]any{}, store.Deleted)
	if alive(third) {
		t.Fatalf("process %d still runs after terminate_instance", third)
	}
	if _, err := drv.Info(ctx, uuid); err == nil || !isNotFound(err) {
		t.Fatalf("the driver still knows the terminated instance: %v", err)
	}
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, compute.ErrNotFound) }
