// Package computetest holds the contract tests that every compute driver
// must pass, and a helper process to use as an instance's command.
//
// A driver's tests call Run with a function that opens a new, empty driver:
//
//	func TestContract(t *testing.T) {
//		computetest.Run(t, func(t *testing.T) compute.Driver {
//			d, err := process.Open(compute.Config{StateDir: t.TempDir()})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return d
//		})
//	}
//
// Instances run the test binary itself as a helper process (see Instance
// and HelperEnv): importing this package is all a test binary needs for it.
package computetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// PowerOffTimeout is the graceful-stop timeout the contract tests use.
const PowerOffTimeout = 2 * time.Second

// opTimeout bounds every driver call in the contract tests.
const opTimeout = 30 * time.Second

// Run runs the contract tests against the driver that open returns. open is
// called once per subtest and must return a new driver that knows no
// instances; Run destroys every instance left and closes the driver when the
// subtest ends. Drivers that run processes must pass with -race.
func Run(t *testing.T, open func(t *testing.T) compute.Driver) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d compute.Driver)
	}{
		{"Spawn", testSpawn},
		{"SpawnDuplicate", testSpawnDuplicate},
		{"SpawnInvalid", testSpawnInvalid},
		{"SpawnCanceled", testSpawnCanceled},
		{"UnknownInstance", testUnknownInstance},
		{"InvalidUUID", testInvalidUUID},
		{"PowerOff", testPowerOff},
		{"PowerOffForced", testPowerOffForced},
		{"PowerOn", testPowerOn},
		{"Reboot", testReboot},
		{"RebootStopped", testRebootStopped},
		{"Destroy", testDestroy},
		{"DestroyStopped", testDestroyStopped},
		{"ListSorted", testListSorted},
		{"Resources", testResources},
		{"Close", testClose},
		{"ConcurrentInstances", testConcurrentInstances},
		{"ConcurrentSameInstance", testConcurrentSameInstance},
		{"ConcurrentSpawnSameUUID", testConcurrentSpawnSameUUID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, openDriver(t, open))
		})
	}
}

func openDriver(t *testing.T, open func(t *testing.T) compute.Driver) compute.Driver {
	t.Helper()
	d := open(t)
	if d == nil {
		t.Fatal("open returned a nil driver")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		infos, err := d.List(ctx)
		if err != nil && !errors.Is(err, compute.ErrClosed) {
			t.Errorf("cleanup: list instances: %v", err)
		}
		for _, info := range infos {
			if err := d.Destroy(ctx, info.UUID); err != nil {
				t.Errorf("cleanup: destroy %s: %v", info.UUID, err)
			}
		}
		if err := d.Close(); err != nil {
			t.Errorf("cleanup: close driver: %v", err)
		}
	})
	return d
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func spawn(t *testing.T, d compute.Driver, uuid string) compute.Instance {
	t.Helper()
	inst := Instance(t, uuid, HelperSleep)
	if err := d.Spawn(ctxFor(t), inst); err != nil {
		t.Fatalf("Spawn(%s): %v", uuid, err)
	}
	return inst
}

func info(t *testing.T, d compute.Driver, uuid string) compute.InstanceInfo {
	t.Helper()
	got, err := d.Info(ctxFor(t), uuid)
	if err != nil {
		t.Fatalf("Info(%s): %v", uuid, err)
	}
	return got
}

func wantState(t *testing.T, d compute.Driver, uuid string, want compute.PowerState) compute.InstanceInfo {
	t.Helper()
	got := info(t, d, uuid)
	if got.PowerState != want {
		t.Fatalf("Info(%s).PowerState = %s, want %s", uuid, got.PowerState, want)
	}
	return got
}

func uuids(infos []compute.InstanceInfo) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.UUID)
	}
	return out
}

func testSpawn(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "spawn-1")
	got := wantState(t, d, inst.UUID, compute.Running)
	if got.UUID != inst.UUID || got.Name != inst.Name || got.Flavor != inst.Flavor {
		t.Errorf("Info = %+v, want uuid %s, name %s, flavor %+v", got, inst.UUID, inst.Name, inst.Flavor)
	}
	if got.StartedAt.IsZero() {
		t.Error("Info.StartedAt is zero for a running instance")
	}
	if got.ExitCode != nil {
		t.Errorf("Info.ExitCode = %d for a running instance, want nil", *got.ExitCode)
	}
	list, err := d.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 || list[0].UUID != inst.UUID || list[0].PowerState != compute.Running {
		t.Fatalf("List = %+v, want just %s RUNNING", list, inst.UUID)
	}
}

func testSpawnDuplicate(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "dup-1")
	again := Instance(t, inst.UUID, HelperSleep)
	again.Name = "other-name"
	err := d.Spawn(ctxFor(t), again)
	if !errors.Is(err, compute.ErrExists) {
		t.Fatalf("second Spawn(%s) = %v, want ErrExists", inst.UUID, err)
	}
	got := wantState(t, d, inst.UUID, compute.Running)
	if got.Name != inst.Name {
		t.Errorf("after a duplicate Spawn, Name = %q, want %q", got.Name, inst.Name)
	}
}

func testSpawnInvalid(t *testing.T, d compute.Driver) {
	tests := []struct {
		name string
		mod  func(*compute.Instance)
	}{
		{"empty uuid", func(i *compute.Instance) { i.UUID = "" }},
		{"path in uuid", func(i *compute.Instance) { i.UUID = "../escape" }},
		{"empty command", func(i *compute.Instance) { i.Command = nil }},
		{"empty program", func(i *compute.Instance) { i.Command = []string{""} }},
		{"zero vcpus", func(i *compute.Instance) { i.Flavor.VCPUs = 0 }},
		{"negative memory", func(i *compute.Instance) { i.Flavor.MemoryMB = -1 }},
		{"negative disk", func(i *compute.Instance) { i.Flavor.DiskGB = -1 }},
		{"bad env", func(i *compute.Instance) { i.Env = []string{"NOEQUALS"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := Instance(t, "invalid-1", HelperSleep)
			tt.mod(&inst)
			err := d.Spawn(ctxFor(t), inst)
			if !errors.Is(err, compute.ErrInvalid) {
				t.Fatalf("Spawn = %v, want ErrInvalid", err)
			}
		})
	}
	list, err := d.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 0 {
		t.Fatalf("after invalid spawns, List = %v, want empty", uuids(list))
	}
}

func testSpawnCanceled(t *testing.T, d compute.Driver) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := d.Spawn(ctx, Instance(t, "canceled-1", HelperSleep))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Spawn with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := d.Info(ctxFor(t), "canceled-1"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("Info after a canceled Spawn = %v, want ErrNotFound", err)
	}
}

// uuidOps are the operations that take a UUID, for table tests.
var uuidOps = []struct {
	name string
	call func(ctx context.Context, d compute.Driver, uuid string) error
}{
	{"Info", func(ctx context.Context, d compute.Driver, uuid string) error {
		_, err := d.Info(ctx, uuid)
		return err
	}},
	{"PowerOff", func(ctx context.Context, d compute.Driver, uuid string) error {
		return d.PowerOff(ctx, uuid, PowerOffTimeout)
	}},
	{"PowerOn", func(ctx context.Context, d compute.Driver, uuid string) error {
		return d.PowerOn(ctx, uuid)
	}},
	{"RebootSoft", func(ctx context.Context, d compute.Driver, uuid string) error {
		return d.Reboot(ctx, uuid, false)
	}},
	{"RebootHard", func(ctx context.Context, d compute.Driver, uuid string) error {
		return d.Reboot(ctx, uuid, true)
	}},
	{"Destroy", func(ctx context.Context, d compute.Driver, uuid string) error {
		return d.Destroy(ctx, uuid)
	}},
}

func testUnknownInstance(t *testing.T, d compute.Driver) {
	spawn(t, d, "known-1")
	for _, op := range uuidOps {
		t.Run(op.name, func(t *testing.T) {
			if err := op.call(ctxFor(t), d, "unknown-1"); !errors.Is(err, compute.ErrNotFound) {
				t.Fatalf("%s(unknown) = %v, want ErrNotFound", op.name, err)
			}
		})
	}
}

func testInvalidUUID(t *testing.T, d compute.Driver) {
	for _, op := range uuidOps {
		for _, uuid := range []string{"", "../x", "a/b"} {
			t.Run(fmt.Sprintf("%s(%q)", op.name, uuid), func(t *testing.T) {
				if err := op.call(ctxFor(t), d, uuid); !errors.Is(err, compute.ErrInvalid) {
					t.Fatalf("%s(%q) = %v, want ErrInvalid", op.name, uuid, err)
				}
			})
		}
	}
}

func testPowerOff(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "off-1")
	for i := range 2 { // the second time it is already off
		if err := d.PowerOff(ctxFor(t), inst.UUID, PowerOffTimeout); err != nil {
			t.Fatalf("PowerOff #%d: %v", i+1, err)
		}
		got := wantState(t, d, inst.UUID, compute.Shutdown)
		if got.PID != 0 {
			t.Errorf("PowerOff #%d: PID = %d, want 0 when off", i+1, got.PID)
		}
	}
}

func testPowerOffForced(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "off-forced-1")
	if err := d.PowerOff(ctxFor(t), inst.UUID, 0); err != nil {
		t.Fatalf("PowerOff(timeout 0): %v", err)
	}
	wantState(t, d, inst.UUID, compute.Shutdown)
}

func testPowerOn(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "on-1")
	if err := d.PowerOff(ctxFor(t), inst.UUID, PowerOffTimeout); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	if err := d.PowerOn(ctxFor(t), inst.UUID); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	first := wantState(t, d, inst.UUID, compute.Running)
	if err := d.PowerOn(ctxFor(t), inst.UUID); err != nil {
		t.Fatalf("PowerOn when running: %v", err)
	}
	second := wantState(t, d, inst.UUID, compute.Running)
	if first.PID != second.PID {
		t.Errorf("PowerOn of a running instance changed its PID from %d to %d", first.PID, second.PID)
	}
}

func testReboot(t *testing.T, d compute.Driver) {
	for _, hard := range []bool{false, true} {
		t.Run(fmt.Sprintf("hard=%v", hard), func(t *testing.T) {
			inst := spawn(t, d, fmt.Sprintf("reboot-%v", hard))
			before := wantState(t, d, inst.UUID, compute.Running)
			if err := d.Reboot(ctxFor(t), inst.UUID, hard); err != nil {
				t.Fatalf("Reboot(hard=%v): %v", hard, err)
			}
			after := wantState(t, d, inst.UUID, compute.Running)
			if before.PID != 0 && (after.PID == 0 || after.PID == before.PID) {
				t.Errorf("Reboot(hard=%v): PID %d -> %d, want a new PID", hard, before.PID, after.PID)
			}
		})
	}
}

func testRebootStopped(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "reboot-stopped-1")
	if err := d.PowerOff(ctxFor(t), inst.UUID, PowerOffTimeout); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	if err := d.Reboot(ctxFor(t), inst.UUID, false); err != nil {
		t.Fatalf("Reboot of a stopped instance: %v", err)
	}
	wantState(t, d, inst.UUID, compute.Running)
}

func testDestroy(t *testing.T, d compute.Driver) {
	gone := spawn(t, d, "destroy-1")
	kept := spawn(t, d, "destroy-2")
	if err := d.Destroy(ctxFor(t), gone.UUID); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := d.Info(ctxFor(t), gone.UUID); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("Info after Destroy = %v, want ErrNotFound", err)
	}
	list, err := d.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got := uuids(list); !slices.Equal(got, []string{kept.UUID}) {
		t.Fatalf("List after Destroy = %v, want [%s]", got, kept.UUID)
	}
	wantState(t, d, kept.UUID, compute.Running)
	if err := d.Destroy(ctxFor(t), gone.UUID); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("second Destroy = %v, want ErrNotFound", err)
	}
	// The UUID can be used again.
	spawn(t, d, gone.UUID)
	wantState(t, d, gone.UUID, compute.Running)
}

func testDestroyStopped(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "destroy-stopped-1")
	if err := d.PowerOff(ctxFor(t), inst.UUID, PowerOffTimeout); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	if err := d.Destroy(ctxFor(t), inst.UUID); err != nil {
		t.Fatalf("Destroy of a stopped instance: %v", err)
	}
	if _, err := d.Info(ctxFor(t), inst.UUID); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("Info after Destroy = %v, want ErrNotFound", err)
	}
}

func testListSorted(t *testing.T, d compute.Driver) {
	list, err := d.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List of a new driver: %v", err)
	}
	if len(list) != 0 {
		t.Fatalf("List of a new driver = %v, want empty", uuids(list))
	}
	for _, u := range []string{"list-c", "list-a", "list-b"} {
		spawn(t, d, u)
	}
	list, err = d.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, want := uuids(list), []string{"list-a", "list-b", "list-c"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

func testResources(t *testing.T, d compute.Driver) {
	r, err := d.Resources(ctxFor(t))
	if err != nil {
		t.Fatalf("Resources: %v", err)
	}
	if r.VCPUs <= 0 || r.MemoryMB <= 0 || r.DiskGB <= 0 {
		t.Fatalf("Resources = %+v, want all positive", r)
	}
}

func testClose(t *testing.T, d compute.Driver) {
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := ctxFor(t)
	if err := d.Spawn(ctx, Instance(t, "closed-1", HelperSleep)); !errors.Is(err, compute.ErrClosed) {
		t.Errorf("Spawn after Close = %v, want ErrClosed", err)
	}
	if _, err := d.List(ctx); !errors.Is(err, compute.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
	if _, err := d.Resources(ctx); !errors.Is(err, compute.ErrClosed) {
		t.Errorf("Resources after Close = %v, want ErrClosed", err)
	}
	for _, op := range uuidOps {
		if err := op.call(ctx, d, "closed-1"); !errors.Is(err, compute.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op.name, err)
		}
	}
}

// testConcurrentInstances runs the whole life cycle of several instances at
// once, with List and Resources called alongside.
func testConcurrentInstances(t *testing.T, d compute.Driver) {
	const n = 4
	ctx := ctxFor(t)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := d.List(ctx); err != nil {
				t.Errorf("concurrent List: %v", err)
				return
			}
			if _, err := d.Resources(ctx); err != nil {
				t.Errorf("concurrent Resources: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	var wg sync.WaitGroup
	for i := range n {
		inst := Instance(t, fmt.Sprintf("concurrent-%d", i), HelperSleep)
		wg.Go(func() {
			if err := lifeCycle(ctx, d, inst); err != nil {
				t.Errorf("%s: %v", inst.UUID, err)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	list, err := d.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 0 {
		t.Fatalf("after every instance was destroyed, List = %v", uuids(list))
	}
}

func lifeCycle(ctx context.Context, d compute.Driver, inst compute.Instance) error {
	steps := []struct {
		name string
		do   func() error
		want compute.PowerState // "" when the instance is gone
	}{
		{"spawn", func() error { return d.Spawn(ctx, inst) }, compute.Running},
		{"power off", func() error { return d.PowerOff(ctx, inst.UUID, PowerOffTimeout) }, compute.Shutdown},
		{"power on", func() error { return d.PowerOn(ctx, inst.UUID) }, compute.Running},
		{"soft reboot", func() error { return d.Reboot(ctx, inst.UUID, false) }, compute.Running},
		{"hard reboot", func() error { return d.Reboot(ctx, inst.UUID, true) }, compute.Running},
		{"destroy", func() error { return d.Destroy(ctx, inst.UUID) }, ""},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		got, err := d.Info(ctx, inst.UUID)
		switch {
		case s.want == "" && !errors.Is(err, compute.ErrNotFound):
			return fmt.Errorf("info after %s = %v, want ErrNotFound", s.name, err)
		case s.want == "":
		case err != nil:
			return fmt.Errorf("info after %s: %w", s.name, err)
		case got.PowerState != s.want:
			return fmt.Errorf("after %s power state is %s, want %s", s.name, got.PowerState, s.want)
		}
	}
	return nil
}

// testConcurrentSameInstance runs conflicting operations on one instance at
// once: the driver serializes them, and the instance ends up in a state that
// the last operation explains.
func testConcurrentSameInstance(t *testing.T, d compute.Driver) {
	inst := spawn(t, d, "same-1")
	ctx := ctxFor(t)
	ops := []func() error{
		func() error { return d.PowerOff(ctx, inst.UUID, PowerOffTimeout) },
		func() error { return d.PowerOn(ctx, inst.UUID) },
		func() error { return d.Reboot(ctx, inst.UUID, false) },
		func() error { return d.Reboot(ctx, inst.UUID, true) },
		func() error { _, err := d.Info(ctx, inst.UUID); return err },
	}
	var wg sync.WaitGroup
	for round := range 2 {
		for i, op := range ops {
			wg.Go(func() {
				if err := op(); err != nil {
					t.Errorf("round %d, operation %d: %v", round, i, err)
				}
			})
		}
	}
	wg.Wait()
	got := info(t, d, inst.UUID)
	if got.PowerState != compute.Running && got.PowerState != compute.Shutdown {
		t.Fatalf("after concurrent operations, power state = %s, want RUNNING or SHUTDOWN", got.PowerState)
	}
	// A final power on must bring it to a clean RUNNING state.
	if err := d.PowerOn(ctx, inst.UUID); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	wantState(t, d, inst.UUID, compute.Running)
}

func testConcurrentSpawnSameUUID(t *testing.T, d compute.Driver) {
	const n = 4
	ctx := ctxFor(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	inst := Instance(t, "race-1", HelperSleep)
	for i := range n {
		wg.Go(func() { errs[i] = d.Spawn(ctx, inst) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, compute.ErrExists):
			t.Errorf("Spawn #%d = %v, want nil or ErrExists", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent Spawns of one UUID succeeded, want exactly 1", ok, n)
	}
	wantState(t, d, "race-1", compute.Running)
}
