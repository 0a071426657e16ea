package fake

import (
	"fmt"

	"github.com/novaflow/novaflow/drivers/compute"
)

// Op names a driver operation, for failure injection.
type Op string

// The operations of the driver.
const (
	OpSpawn     Op = "spawn"
	OpPowerOff  Op = "power_off"
	OpPowerOn   Op = "power_on"
	OpReboot    Op = "reboot"
	OpDestroy   Op = "destroy"
	OpInfo      Op = "info"
	OpList      Op = "list"
	OpResources Op = "resources"
)

type failKey struct {
	op   Op
	uuid string
}

// FailNext makes the next call of op, on any instance, fail with err (after
// the driver has checked that it is open, the context and the UUID, and
// before it changes anything). Calls queue up: FailNext twice fails the next
// two calls. The error is returned wrapped with the operation and UUID.
func (d *Driver) FailNext(op Op, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failNext[op] = append(d.failNext[op], err)
}

// Fail makes every call of op on the instance uuid fail with err until it
// is called again with a nil err. An empty uuid means every call of op,
// including List and Resources, which take no UUID. Spawn is matched by
// the UUID of the instance being spawned.
func (d *Driver) Fail(op Op, uuid string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := failKey{op, uuid}
	if err == nil {
		delete(d.failures, k)
		return
	}
	d.failures[k] = err
}

// injected returns the error injected for a call of op on uuid, consuming a
// FailNext; called with d.mu held.
func (d *Driver) injected(op Op, uuid string) error {
	if q := d.failNext[op]; len(q) > 0 {
		d.failNext[op] = q[1:]
		return q[0]
	}
	if err, ok := d.failures[failKey{op, ""}]; ok {
		return err
	}
	if uuid == "" {
		return nil
	}
	return d.failures[failKey{op, uuid}]
}

// SetPowerState sets the power state of an instance as if it had changed
// on its own (e.g. SHUTDOWN: its guest powered off; CRASHED: it failed).
// RUNNING and PAUSED keep the instance's PID or give it a new one; the
// other states clear it. Unknown UUIDs fail with compute.ErrNotFound and
// undefined states with compute.ErrInvalid.
func (d *Driver) SetPowerState(uuid string, state compute.PowerState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !state.Valid() {
		return fmt.Errorf("set power state of instance %q: %q is not a power state: %w",
			uuid, state, compute.ErrInvalid)
	}
	in, err := d.lookup(uuid)
	if err != nil {
		return fmt.Errorf("set power state: %w", err)
	}
	switch state {
	case compute.Running, compute.Paused:
		if in.pid == 0 {
			d.start(in)
		}
	default:
		in.pid = 0
	}
	in.state = state
	return nil
}

// Exit simulates the instance's process exiting on its own with code, as
// the process driver reports it: SHUTDOWN, with ExitCode set.
func (d *Driver) Exit(uuid string, code int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := d.lookup(uuid)
	if err != nil {
		return fmt.Errorf("exit: %w", err)
	}
	stop(in)
	in.exitCode = &code
	return nil
}
