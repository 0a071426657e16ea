package compute

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// SyncPowerStates makes the database follow the driver for every instance of
// this host that has no operation in progress, with nova's rules
// (_sync_instance_power_state):
//   - power_state always takes the driver's value (NOSTATE when the driver
//     does not have the instance);
//   - active, and the driver says SHUTDOWN or CRASHED: the instance is
//     stopped (it stopped on its own);
//   - active, and the driver does not have it: error, with the reason;
//   - stopped, and the driver says it runs: it is powered off, as nova's
//     sync calls the stop API.
//
// Each change the sync makes to a vm state is recorded as an instance action.
func (m *Manager) SyncPowerStates(ctx context.Context) error {
	insts, err := m.store.List(ctx, store.Filter{Host: m.host})
	if err != nil {
		return fmt.Errorf("sync power states: %w", err)
	}
	var errs []error
	for _, inst := range insts {
		if err := m.syncInstance(ctx, inst.UUID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sync power states: %w", err)
	}
	return nil
}

// syncInstance applies SyncPowerStates' rules to one instance, under its lock.
func (m *Manager) syncInstance(ctx context.Context, uuid string) error {
	unlock, err := m.locks.Lock(ctx, uuid)
	if err != nil {
		return err
	}
	defer unlock()
	inst, err := m.store.Get(ctx, uuid)
	if err != nil {
		return err
	}
	if inst.Deleted || inst.Host != m.host || inst.TaskState != store.NoTask {
		return nil // gone, moved, or an operation owns it
	}
	info, err := m.driver.Info(ctx, uuid)
	missing := errors.Is(err, compute.ErrNotFound)
	if err != nil && !missing {
		return fmt.Errorf("instance %s: %w", uuid, err)
	}
	power := info.PowerState
	if missing {
		power = compute.NoState
	}
	cond := store.Cond{Host: m.host, VMStates: []store.VMState{inst.VMState}, TaskStates: []store.TaskState{store.NoTask}}
	switch {
	case inst.VMState == store.Active && (power == compute.Shutdown || power == compute.Crashed):
		return m.syncChange(ctx, inst, "stop", cond, store.Set{VMState: store.Stopped, PowerState: power},
			fmt.Sprintf("sync_power_states: the driver reports %s", power))
	case inst.VMState == store.Active && missing:
		msg := "sync_power_states: the compute driver does not have the instance (a HARD reboot recreates it)"
		return m.syncChange(ctx, inst, "error", cond, store.Set{VMState: store.Error, PowerState: power, Fault: msg}, msg)
	case inst.VMState == store.Stopped && (power == compute.Running || power == compute.Paused):
		m.logger.WarnContext(ctx, "instance is not stopped: powering it off", "instance", uuid, "power_state", power)
		if err := m.driver.PowerOff(ctx, uuid, 0); err != nil {
			return fmt.Errorf("instance %s: power off a stopped instance: %w", uuid, err)
		}
		return m.syncChange(ctx, inst, "stop", cond, store.Set{PowerState: m.powerState(ctx, uuid)},
			fmt.Sprintf("sync_power_states: the instance is stopped but the driver reported %s", power))
	case power != inst.PowerState:
		_, err := m.store.Update(ctx, uuid, cond, store.Set{PowerState: power})
		if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("instance %s: %w", uuid, err)
		}
		m.logger.InfoContext(ctx, "power state synced", "instance", uuid, "from", inst.PowerState, "to", power)
	}
	return nil
}

// syncChange writes a change of vm state made by the sync, with its action.
func (m *Manager) syncChange(ctx context.Context, inst store.Instance, action string, cond store.Cond, set store.Set, why string) error {
	_, err := m.store.Update(ctx, inst.UUID, cond, set)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil // changed under us: the next sync looks again
	}
	if err != nil {
		return fmt.Errorf("instance %s: %w", inst.UUID, err)
	}
	m.logger.WarnContext(ctx, "instance state synced with the driver", "instance", inst.UUID,
		"vm_state", set.VMState, "power_state", set.PowerState, "reason", why)
	act, err := m.store.StartAction(ctx, requestID(ctx, ""), action, inst.UUID, m.host)
	if err != nil {
		return fmt.Errorf("instance %s: %w", inst.UUID, err)
	}
	if err := m.store.FinishActionResult(ctx, act.ID, store.ResultSuccess, why); err != nil {
		return fmt.Errorf("instance %s: %w", inst.UUID, err)
	}
	return nil
}

// ReapDeletedInstances destroys what the driver still runs of instances that
// are not this host's any more (nova's _cleanup_running_deleted_instances,
// action reap): deleted ones, ones claimed on another host, and failed
// builds released from this host. Instances the database does not know at
// all are logged and left alone.
func (m *Manager) ReapDeletedInstances(ctx context.Context) error {
	infos, err := m.driver.List(ctx)
	if err != nil {
		return fmt.Errorf("reap deleted instances: %w", err)
	}
	if len(infos) == 0 {
		return nil
	}
	uuids := make([]string, len(infos))
	for i, info := range infos {
		uuids[i] = info.UUID
	}
	rows, err := m.store.List(ctx, store.Filter{UUIDs: uuids, Deleted: true})
	if err != nil {
		return fmt.Errorf("reap deleted instances: %w", err)
	}
	known := make(map[string]bool, len(rows))
	for _, r := range rows {
		known[r.UUID] = true
	}
	var errs []error
	for _, u := range uuids {
		if !known[u] {
			m.logger.WarnContext(ctx, "the compute driver has an instance the database does not know; leaving it alone", "instance", u)
			continue
		}
		if err := m.reapInstance(ctx, u); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reap deleted instances: %w", err)
	}
	return nil
}

// reapInstance destroys the instance on this host's driver when, checked
// under its lock, it is not this host's any more.
func (m *Manager) reapInstance(ctx context.Context, uuid string) error {
	unlock, err := m.locks.Lock(ctx, uuid)
	if err != nil {
		return err
	}
	defer unlock()
	inst, err := m.store.Get(ctx, uuid)
	if err != nil {
		return err
	}
	if !inst.Deleted && (inst.Host == m.host || (inst.Host == "" && inst.VMState == store.Building)) {
		return nil // ours, or being scheduled
	}
	if err := m.driver.Destroy(ctx, uuid); err != nil && !errors.Is(err, compute.ErrNotFound) {
		return fmt.Errorf("instance %s: %w", uuid, err)
	}
	m.logger.WarnContext(ctx, "reaped an instance that is not this host's", "instance", uuid, "deleted", inst.Deleted, "host", inst.Host)
	return nil
}

// reconcile brings the database in line with the driver after a restart
// (nova's init_host / _init_instance): a delete that was cut short is
// finished; a power operation that was cut short is settled by what the
// driver reports; builds are left to their retry (the conductor's activity
// runs again, and the build does not spawn twice); then every instance is
// synced and leftovers of deleted instances are reaped.
func (m *Manager) reconcile(ctx context.Context) error {
	insts, err := m.store.List(ctx, store.Filter{Host: m.host})
	if err != nil {
		return err
	}
	var errs []error
	for _, inst := range insts {
		switch inst.TaskState {
		case store.Deleting:
			if _, err := m.TerminateInstance(ctx, InstanceRequest{InstanceUUID: inst.UUID}); err != nil {
				errs = append(errs, err)
			}
			continue
		case store.Scheduling, store.Spawning:
			m.logger.InfoContext(ctx, "instance was being built when the service stopped; its build's retry finishes it", "instance", inst.UUID)
			continue
		case store.PoweringOff, store.PoweringOn, store.Rebooting, store.RebootingHard:
			if err := m.settle(ctx, inst); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := m.syncInstance(ctx, inst.UUID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.ReapDeletedInstances(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// settle ends a power operation cut short by a restart: the vm state follows
// the driver (running: active; off: stopped; gone: error) and the task is
// cleared, so the operation's retry starts afresh.
func (m *Manager) settle(ctx context.Context, inst store.Instance) error {
	power := m.powerState(ctx, inst.UUID)
	set := store.Set{PowerState: power}
	switch power {
	case compute.Running, compute.Paused:
		set.VMState = store.Active
	case compute.Shutdown, compute.Crashed, compute.Suspended:
		set.VMState = store.Stopped
	case compute.NoState:
		set.VMState = store.Error
		set.Fault = fmt.Sprintf("%s was cut short by a restart and the compute driver does not have the instance", inst.TaskState)
	default:
		return nil // the driver cannot tell now; the next sync looks again
	}
	_, err := m.store.Update(ctx, inst.UUID,
		store.Cond{Host: m.host, TaskStates: []store.TaskState{inst.TaskState}}, set)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("instance %s: %w", inst.UUID, err)
	}
	m.logger.InfoContext(ctx, "operation cut short by a restart settled", "instance", inst.UUID,
		"task_state", inst.TaskState, "vm_state", set.VMState, "power_state", power)
	return nil
}
