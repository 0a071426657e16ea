package fake_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/computetest"
	"github.com/novaflow/novaflow/drivers/compute/fake"
)

func open(t *testing.T) *fake.Driver {
	t.Helper()
	d, err := fake.Open(compute.Config{Host: "fake-host"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestContract(t *testing.T) {
	computetest.Run(t, func(t *testing.T) compute.Driver { return open(t) })
}

func TestRegistered(t *testing.T) {
	d, err := compute.Open("fake", compute.Config{Options: map[string]string{"vcpus": "4"}})
	if err != nil {
		t.Fatalf(`compute.Open("fake"): %v`, err)
	}
	defer d.Close()
	r, err := d.Resources(t.Context())
	if err != nil || r.VCPUs != 4 {
		t.Fatalf("Resources = %+v, %v; want 4 vCPUs", r, err)
	}
	if _, err := compute.Open("fake", compute.Config{Options: map[string]string{"vcpu": "4"}}); err == nil {
		t.Fatal(`compute.Open("fake") with a bad option succeeded`)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]string
		want    compute.Resources
		wantErr string
	}{
		{name: "defaults", want: compute.Resources{VCPUs: 16, MemoryMB: 32768, DiskGB: 500}},
		{name: "all set", opts: map[string]string{"vcpus": "2", "memory_mb": "2048", "disk_gb": "20"},
			want: compute.Resources{VCPUs: 2, MemoryMB: 2048, DiskGB: 20}},
		{name: "some set", opts: map[string]string{"memory_mb": "1024"},
			want: compute.Resources{VCPUs: 16, MemoryMB: 1024, DiskGB: 500}},
		{name: "unknown", opts: map[string]string{"cpus": "2"},
			wantErr: `fake: unknown option "cpus" (known: disk_gb, memory_mb, vcpus)`},
		{name: "not a number", opts: map[string]string{"vcpus": "many"},
			wantErr: `fake: option vcpus="many": want a positive integer`},
		{name: "zero", opts: map[string]string{"disk_gb": "0"},
			wantErr: `fake: option disk_gb="0": want a positive integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := fake.Open(compute.Config{Options: tt.opts})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Open error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got, err := d.Resources(t.Context())
			if err != nil || got != tt.want {
				t.Fatalf("Resources = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestFailNext(t *testing.T) {
	ctx := t.Context()
	inst := computetest.Instance(t, "vm-1", computetest.HelperSleep)
	tests := []struct {
		name string
		op   fake.Op
		call func(d *fake.Driver) error
	}{
		{"spawn", fake.OpSpawn, func(d *fake.Driver) error { return d.Spawn(ctx, inst) }},
		{"power off", fake.OpPowerOff, func(d *fake.Driver) error { return d.PowerOff(ctx, "vm-1", 0) }},
		{"power on", fake.OpPowerOn, func(d *fake.Driver) error { return d.PowerOn(ctx, "vm-1") }},
		{"reboot", fake.OpReboot, func(d *fake.Driver) error { return d.Reboot(ctx, "vm-1", true) }},
		{"destroy", fake.OpDestroy, func(d *fake.Driver) error { return d.Destroy(ctx, "vm-1") }},
		{"info", fake.OpInfo, func(d *fake.Driver) error { _, err := d.Info(ctx, "vm-1"); return err }},
		{"list", fake.OpList, func(d *fake.Driver) error { _, err := d.List(ctx); return err }},
		{"resources", fake.OpResources, func(d *fake.Driver) error { _, err := d.Resources(ctx); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t)
			if tt.op != fake.OpSpawn {
				if err := d.Spawn(ctx, inst); err != nil {
					t.Fatalf("Spawn: %v", err)
				}
			}
			before, _ := d.List(ctx)
			d.FailNext(tt.op, errBoom)
			d.FailNext(tt.op, compute.ErrNotFound)
			if err := tt.call(d); !errors.Is(err, errBoom) {
				t.Fatalf("first call = %v, want boom", err)
			}
			if err := tt.call(d); !errors.Is(err, compute.ErrNotFound) {
				t.Fatalf("second call = %v, want the second injected error", err)
			}
			after, err := d.List(ctx)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(before) != len(after) || (len(after) == 1 && after[0] != before[0]) {
				t.Fatalf("a failed call changed the instances: %+v -> %+v", before, after)
			}
			if err := tt.call(d); err != nil {
				t.Fatalf("third call = %v, want success", err)
			}
		})
	}
}

func TestFail(t *testing.T) {
	ctx := t.Context()
	d := open(t)
	for _, u := range []string{"vm-1", "vm-2"} {
		if err := d.Spawn(ctx, computetest.Instance(t, u, computetest.HelperSleep)); err != nil {
			t.Fatalf("Spawn: %v", err)
		}
	}
	d.Fail(fake.OpReboot, "vm-1", errBoom)
	for range 2 {
		if err := d.Reboot(ctx, "vm-1", false); !errors.Is(err, errBoom) {
			t.Fatalf("Reboot(vm-1) = %v, want boom every time", err)
		}
	}
	if err := d.Reboot(ctx, "vm-2", false); err != nil {
		t.Fatalf("Reboot(vm-2) = %v, want success: the failure is for vm-1 only", err)
	}
	if err := d.PowerOff(ctx, "vm-1", 0); err != nil {
		t.Fatalf("PowerOff(vm-1) = %v, want success: the failure is for reboot only", err)
	}
	d.Fail(fake.OpReboot, "vm-1", nil)
	if err := d.Reboot(ctx, "vm-1", false); err != nil {
		t.Fatalf("Reboot(vm-1) after clearing = %v", err)
	}

	d.Fail(fake.OpSpawn, "vm-3", errBoom)
	if err := d.Spawn(ctx, computetest.Instance(t, "vm-3", computetest.HelperSleep)); !errors.Is(err, errBoom) {
		t.Fatalf("Spawn(vm-3) = %v, want boom", err)
	}
	if _, err := d.Info(ctx, "vm-3"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("Info after a failed Spawn = %v, want ErrNotFound", err)
	}

	d.Fail(fake.OpList, "", errBoom)
	if _, err := d.List(ctx); !errors.Is(err, errBoom) {
		t.Fatalf("List = %v, want boom", err)
	}
	d.Fail(fake.OpList, "", nil)
	if _, err := d.List(ctx); err != nil {
		t.Fatalf("List after clearing = %v", err)
	}
}

func TestSetPowerState(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		state   compute.PowerState
		wantPID bool
	}{
		{compute.Shutdown, false},
		{compute.Crashed, false},
		{compute.Suspended, false},
		{compute.NoState, false},
		{compute.Paused, true},
		{compute.Running, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			d := open(t)
			if err := d.Spawn(ctx, computetest.Instance(t, "vm-1", computetest.HelperSleep)); err != nil {
				t.Fatalf("Spawn: %v", err)
			}
			if err := d.SetPowerState("vm-1", tt.state); err != nil {
				t.Fatalf("SetPowerState: %v", err)
			}
			info, err := d.Info(ctx, "vm-1")
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			if info.PowerState != tt.state || (info.PID != 0) != tt.wantPID {
				t.Fatalf("Info = %s pid %d, want %s (pid set: %v)", info.PowerState, info.PID, tt.state, tt.wantPID)
			}
			if err := d.PowerOn(ctx, "vm-1"); err != nil {
				t.Fatalf("PowerOn: %v", err)
			}
			if info, _ := d.Info(ctx, "vm-1"); info.PowerState != compute.Running || info.PID == 0 {
				t.Fatalf("after PowerOn: %s pid %d, want RUNNING with a pid", info.PowerState, info.PID)
			}
		})
	}

	d := open(t)
	if err := d.SetPowerState("vm-x", compute.Shutdown); !errors.Is(err, compute.ErrNotFound) {
		t.Errorf("SetPowerState(unknown) = %v, want ErrNotFound", err)
	}
	if err := d.SetPowerState("vm-x", "SHUTOFF"); !errors.Is(err, compute.ErrInvalid) {
		t.Errorf("SetPowerState(SHUTOFF) = %v, want ErrInvalid", err)
	}
}

func TestExit(t *testing.T) {
	ctx := t.Context()
	d := open(t)
	if err := d.Spawn(ctx, computetest.Instance(t, "vm-1", computetest.HelperSleep)); err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	if err := d.Exit("vm-1", 3); err != nil {
		t.Fatalf("Exit: %v", err)
	}
	info, err := d.Info(ctx, "vm-1")
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.PowerState != compute.Shutdown || info.ExitCode == nil || *info.ExitCode != 3 || info.PID != 0 {
		t.Fatalf("Info after Exit(3) = %+v", info)
	}
	if err := d.Exit("vm-x", 0); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("Exit(unknown) = %v, want ErrNotFound", err)
	}
}

func TestDeterministicPIDs(t *testing.T) {
	ctx := context.Background()
	d := open(t)
	var pids []int
	for _, u := range []string{"a", "b"} {
		if err := d.Spawn(ctx, computetest.Instance(t, u, computetest.HelperSleep)); err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info(ctx, u)
		pids = append(pids, info.PID)
	}
	_ = d.Reboot(ctx, "a", true)
	info, _ := d.Info(ctx, "a")
	pids = append(pids, info.PID)
	if want := []int{1000, 1001, 1002}; !slices.Equal(pids, want) {
		t.Fatalf("PIDs = %v, want %v", pids, want)
	}
}
