package compute_test

import (
	"context"
	"slices"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
)

func TestSyncPowerStatesFollowsTheDriver(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	stopped := func(t *testing.T) string {
		u := e.active(t)
		if _, err := e.mgr.StopInstance(ctx, computemgr.StopRequest{InstanceUUID: u}); err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name       string
		setup      func(t *testing.T) string
		driver     func(t *testing.T, u string) // what happens on the host
		wantVM     store.VMState
		wantPower  compute.PowerState
		wantDriver compute.PowerState // "" = the instance is gone
		wantAction string             // last action, "" = none added
	}{
		{name: "powered off on its own", setup: e.active,
			driver: func(t *testing.T, u string) { must(t, e.fake.SetPowerState(u, compute.Shutdown)) },
			wantVM: store.Stopped, wantPower: compute.Shutdown, wantDriver: compute.Shutdown, wantAction: "stop:Success"},
		{name: "exited with a code", setup: e.active,
			driver: func(t *testing.T, u string) { must(t, e.fake.Exit(u, 3)) },
			wantVM: store.Stopped, wantPower: compute.Shutdown, wantDriver: compute.Shutdown, wantAction: "stop:Success"},
		{name: "crashed", setup: e.active,
			driver: func(t *testing.T, u string) { must(t, e.fake.SetPowerState(u, compute.Crashed)) },
			wantVM: store.Stopped, wantPower: compute.Crashed, wantDriver: compute.Crashed, wantAction: "stop:Success"},
		{name: "paused", setup: e.active,
			driver: func(t *testing.T, u string) { must(t, e.fake.SetPowerState(u, compute.Paused)) },
			wantVM: store.Active, wantPower: compute.Paused, wantDriver: compute.Paused},
		{name: "gone from the driver", setup: e.active,
			driver: func(t *testing.T, u string) { must(t, e.fake.Destroy(ctx, u)) },
			wantVM: store.Error, wantPower: compute.NoState, wantAction: "error:Success"},
		{name: "stopped but running is powered off", setup: stopped,
			driver: func(t *testing.T, u string) { must(t, e.fake.PowerOn(ctx, u)) },
			wantVM: store.Stopped, wantPower: compute.Shutdown, wantDriver: compute.Shutdown, wantAction: "stop:Success"},
		{name: "nothing changed", setup: e.active,
			driver: func(t *testing.T, u string) {},
			wantVM: store.Active, wantPower: compute.Running, wantDriver: compute.Running},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.setup(t)
			before := e.actions(t, u)
			tt.driver(t, u)
			if err := e.mgr.SyncPowerStates(ctx); err != nil {
				t.Fatalf("sync_power_states: %v", err)
			}
			i := e.get(t, u)
			wantState(t, i, tt.wantVM, store.NoTask, tt.wantPower)
			if tt.wantVM == store.Error && i.Fault == "" {
				t.Error("no fault recorded")
			}
			info, err := e.fake.Info(ctx, u)
			if tt.wantDriver == "" {
				if err == nil {
					t.Errorf("driver has the instance: %+v", info)
				}
			} else if err != nil || info.PowerState != tt.wantDriver {
				t.Errorf("driver power state = %s, %v; want %s", info.PowerState, err, tt.wantDriver)
			}
			after := e.actions(t, u)
			switch {
			case tt.wantAction == "" && len(after) != len(before):
				t.Errorf("actions %v -> %v, want none added", before, after)
			case tt.wantAction != "" && (len(after) != len(before)+1 || after[len(after)-1] != tt.wantAction):
				t.Errorf("actions %v -> %v, want %s added", before, after, tt.wantAction)
			}
		})
	}
}

func TestSyncSkipsInstancesWithATask(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	u := e.active(t)
	if _, err := e.store.Update(ctx, u, store.Cond{}, store.Set{TaskState: store.Rebooting}); err != nil {
		t.Fatal(err)
	}
	must(t, e.fake.SetPowerState(u, compute.Shutdown))
	if err := e.mgr.SyncPowerStates(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(t, u), store.Active, store.Rebooting, compute.Running)
}

func TestUpdateAvailableResource(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, map[string]string{"vcpus": "8", "memory_mb": "8192", "disk_gb": "80"})
	n, err := e.store.Node(ctx, e.host)
	if err != nil {
		t.Fatalf("PreStartHook did not create the node: %v", err)
	}
	if n.VCPUs != 8 || n.MemoryMB != 8192 || n.DiskGB != 80 || n.VCPUsUsed != 0 {
		t.Fatalf("node = %+v", n)
	}
	a, b := e.active(t), e.active(t)
	e.active(t)
	if _, err := e.mgr.StopInstance(ctx, computemgr.StopRequest{InstanceUUID: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.TerminateInstance(ctx, computemgr.InstanceRequest{InstanceUUID: a}); err != nil {
		t.Fatal(err)
	}
	// Drift the usage columns; the task puts them right from the instances.
	if _, err := e.pool.Exec(ctx, `UPDATE compute_nodes SET vcpus_used = 7, memory_mb_used = 0`); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.UpdateAvailableResource(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ = e.store.Node(ctx, e.host)
	// Two live instances (one stopped: it still holds its resources).
	if n.VCPUsUsed != 2 || n.MemoryMBUsed != 1024 || n.DiskGBUsed != 2 || n.VCPUs != 8 {
		t.Errorf("node = %+v, want 2 tiny instances used", n)
	}
}

func TestInitHostReconciles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	setTask := func(u string, task store.TaskState) {
		if _, err := e.store.Update(ctx, u, store.Cond{}, store.Set{TaskState: task}); err != nil {
			t.Fatal(err)
		}
	}
	// What the service left behind when it died.
	stopping := e.active(t) // stop cut short after the driver powered off
	setTask(stopping, store.PoweringOff)
	must(t, e.fake.PowerOff(ctx, stopping, 0))
	starting := e.active(t) // start cut short before the driver acted
	setTask(starting, store.PoweringOn)
	must(t, e.fake.SetPowerState(starting, compute.Shutdown))
	deleting := e.active(t) // terminate cut short
	setTask(deleting, store.Deleting)
	deleted := e.active(t) // deleted in the database, still running
	if _, err := e.store.MarkDeleted(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	spawning := e.create(t, tiny) // build in progress: left to its retry
	if _, err := e.store.Claim(ctx, spawning, e.host); err != nil {
		t.Fatal(err)
	}
	setTask(spawning, store.Spawning)
	exited := e.active(t) // exited while the service was down
	must(t, e.fake.Exit(exited, 0))
	lost := e.active(t) // the driver lost it
	must(t, e.fake.Destroy(ctx, lost))
	running := e.active(t)

	// The service starts again on the same host and driver.
	m := e.manager(t, e.host)
	if err := m.InitHost(ctx, nil); err != nil {
		t.Fatalf("InitHost: %v", err)
	}
	checks := []struct {
		name  string
		uuid  string
		vm    store.VMState
		task  store.TaskState
		power compute.PowerState
	}{
		{"stop cut short", stopping, store.Stopped, store.NoTask, compute.Shutdown},
		{"start cut short", starting, store.Stopped, store.NoTask, compute.Shutdown},
		{"terminate cut short", deleting, store.Deleted, store.NoTask, compute.NoState},
		{"deleted", deleted, store.Deleted, store.NoTask, compute.NoState},
		{"spawning", spawning, store.Building, store.Spawning, compute.NoState},
		{"exited", exited, store.Stopped, store.NoTask, compute.Shutdown},
		{"lost", lost, store.Error, store.NoTask, compute.NoState},
		{"running", running, store.Active, store.NoTask, compute.Running},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			wantState(t, e.get(t, c.uuid), c.vm, c.task, c.power)
		})
	}
	for _, u := range []string{deleting, deleted} {
		if _, err := e.fake.Info(ctx, u); err == nil {
			t.Errorf("the driver still has deleted instance %s", u)
		}
	}
	// The start that was cut short runs again and succeeds.
	if _, err := m.StartInstance(ctx, computemgr.InstanceRequest{InstanceUUID: starting}); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(t, starting), store.Active, store.NoTask, compute.Running)
	// A hard reboot recreates the lost instance from its row.
	if _, err := m.RebootInstance(ctx, computemgr.RebootRequest{InstanceUUID: lost, RebootType: "HARD"}); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(t, lost), store.Active, store.NoTask, compute.Running)
	if got := e.get(t, lost).Fault; got != "" {
		t.Errorf("fault after recovery = %q, want none", got)
	}
}

func TestReapDeletedInstances(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	deleted := e.active(t)
	if _, err := e.store.MarkDeleted(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	moved := e.active(t) // claimed elsewhere since (a reschedule after a timeout)
	if _, err := e.pool.Exec(ctx, `UPDATE instances SET host = 'host-2' WHERE uuid = $1`, moved); err != nil {
		t.Fatal(err)
	}
	kept := e.active(t)
	stranger := "not-in-the-database"
	must(t, e.fake.Spawn(ctx, compute.Instance{UUID: stranger, Flavor: tiny, Command: []string{"sleep", "1"}}))

	if err := e.mgr.ReapDeletedInstances(ctx); err != nil {
		t.Fatal(err)
	}
	infos, err := e.fake.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, i := range infos {
		left = append(left, i.UUID)
	}
	want := []string{kept, stranger}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("driver has %v after reap, want %v", left, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
