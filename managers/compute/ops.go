package compute

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// operation describes a power operation on an instance of this host: the
// states it starts from, the task state while it runs, the driver's part and
// the states it leaves behind, as nova's compute manager moves them.
type operation struct {
	action string          // name of the instance action, e.g. "stop"
	from   []store.VMState // vm states it may start from
	task   store.TaskState // task state while it runs
	// done reports that the instance is already where the operation leads,
	// so that a repeated request succeeds without doing anything; nil: never.
	done func(store.Instance) bool
	run  func(ctx context.Context, inst store.Instance) error // the driver's part
	to   store.VMState                                        // vm state after success
	// failed is the state after run failed (its TaskState is ignored: the
	// task is cleared, as nova's reverts_task_state does).
	failed func(ctx context.Context, inst store.Instance, err error) store.Set
}

// do runs op on the instance under its lock, with an instance action of
// request reqID. A request whose action already succeeded returns the
// instance as it is.
func (m *Manager) do(ctx context.Context, uuid, reqID string, op operation) (store.Instance, error) {
	unlock, err := m.locks.Lock(ctx, uuid)
	if err != nil {
		return store.Instance{}, fmt.Errorf("%s instance %s: %w", op.action, uuid, err)
	}
	defer unlock()
	inst, err := m.load(ctx, op.action, uuid)
	if err != nil {
		return store.Instance{}, err
	}
	act, err := m.store.StartAction(ctx, requestID(ctx, reqID), op.action, uuid, m.host)
	if err != nil {
		return store.Instance{}, fmt.Errorf("%s instance %s: %w", op.action, uuid, err)
	}
	if act.Result == store.ResultSuccess {
		return inst, nil
	}
	inst, opErr := m.doLocked(ctx, inst, op)
	if err := m.finish(ctx, act, opErr); err != nil {
		return store.Instance{}, err
	}
	return inst, opErr
}

func (m *Manager) doLocked(ctx context.Context, inst store.Instance, op operation) (store.Instance, error) {
	uuid := inst.UUID
	if inst.Host != m.host {
		return store.Instance{}, notOnHost(op.action, inst, m.host)
	}
	if op.done != nil && op.done(inst) {
		return inst, nil
	}
	// A repeated request finds the task state it set itself and goes on.
	inst, err := m.store.Update(ctx, uuid,
		store.Cond{Host: m.host, VMStates: op.from, TaskStates: []store.TaskState{store.NoTask, op.task}},
		store.Set{TaskState: op.task})
	if err != nil {
		return store.Instance{}, storeError(op.action, uuid, err)
	}
	if runErr := op.run(ctx, inst); runErr != nil {
		// Revert even when the call was cancelled.
		rctx := context.WithoutCancel(ctx)
		set := op.failed(rctx, inst, runErr)
		set.TaskState = store.NoTask
		if _, err := m.store.Update(rctx, uuid, store.Cond{Host: m.host, TaskStates: []store.TaskState{op.task}}, set); err != nil {
			m.logger.ErrorContext(ctx, "revert instance state after a failed operation", "instance", uuid, "action", op.action, "error", err)
		}
		return store.Instance{}, driverError(op.action, uuid, runErr)
	}
	inst, err = m.store.Update(ctx, uuid,
		store.Cond{Host: m.host, TaskStates: []store.TaskState{op.task}},
		store.Set{VMState: op.to, TaskState: store.NoTask, PowerState: m.powerState(ctx, uuid)})
	if err != nil {
		return store.Instance{}, storeError(op.action, uuid, err)
	}
	return inst, nil
}

// load returns the live instance, or NotFound.
func (m *Manager) load(ctx context.Context, verb, uuid string) (store.Instance, error) {
	inst, err := m.store.Get(ctx, uuid)
	if err == nil && inst.Deleted {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Instance{}, storeError(verb, uuid, err)
	}
	return inst, nil
}

// finish ends the instance action with the operation's outcome. When that
// cannot be written (the database is down), the outcome would be lost: the
// error is a retryable Unavailable, so that the call is retried, finds its
// action by its request id, and records the outcome then (an operation is
// repeatable: its retry finds the instance where the first run left it).
func (m *Manager) finish(ctx context.Context, act store.Action, opErr error) error {
	if err := m.store.FinishAction(context.WithoutCancel(ctx), act.ID, opErr); err != nil {
		m.logger.ErrorContext(ctx, "finish instance action", "instance", act.InstanceUUID, "action", act.Action, "error", err)
		return managers.Unavailable("%s of instance %s: record its outcome: %v", act.Action, act.InstanceUUID, err)
	}
	return nil
}

// powerState is the driver's power state of the instance: NOSTATE when the
// driver does not know it, "" (leave the database as it is) when the driver
// cannot tell.
func (m *Manager) powerState(ctx context.Context, uuid string) compute.PowerState {
	info, err := m.driver.Info(ctx, uuid)
	switch {
	case err == nil:
		return info.PowerState
	case errors.Is(err, compute.ErrNotFound):
		return compute.NoState
	default:
		m.logger.WarnContext(ctx, "read power state", "instance", uuid, "error", err)
		return ""
	}
}

// keepVMState is the failed handler of operations that leave the vm state
// as it was on failure (stop, start), with the driver's power state.
func (m *Manager) keepVMState(ctx context.Context, inst store.Instance, _ error) store.Set {
	return store.Set{PowerState: m.powerState(ctx, inst.UUID)}
}

// StopInstance powers the instance off: cleanly, then forcibly after
// NOVAFLOW_COMPUTE_SHUTDOWN_TIMEOUT (at once with force). active -> stopped;
// stopping a stopped instance succeeds.
func (m *Manager) StopInstance(ctx context.Context, req StopRequest) (store.Instance, error) {
	timeout := m.cfg.ShutdownTimeout
	if req.Force {
		timeout = 0
	}
	return m.do(ctx, req.InstanceUUID, req.RequestID, operation{
		action: "stop",
		from:   []store.VMState{store.Active},
		task:   store.PoweringOff,
		done:   func(i store.Instance) bool { return i.VMState == store.Stopped && i.TaskState == store.NoTask },
		run: func(ctx context.Context, i store.Instance) error {
			return m.driver.PowerOff(ctx, i.UUID, timeout)
		},
		to:     store.Stopped,
		failed: m.keepVMState,
	})
}

// StartInstance powers the instance on: stopped -> active; starting an
// active instance succeeds.
func (m *Manager) StartInstance(ctx context.Context, req InstanceRequest) (store.Instance, error) {
	return m.do(ctx, req.InstanceUUID, req.RequestID, operation{
		action: "start",
		from:   []store.VMState{store.Stopped},
		task:   store.PoweringOn,
		done:   func(i store.Instance) bool { return i.VMState == store.Active && i.TaskState == store.NoTask },
		run: func(ctx context.Context, i store.Instance) error {
			return m.driver.PowerOn(ctx, i.UUID)
		},
		to:     store.Active,
		failed: m.keepVMState,
	})
}

// RebootInstance reboots the instance. SOFT: active only; HARD also from
// stopped and error, and recreates the instance from its row when the driver
// lost it (as nova's hard reboot redefines the guest). On failure the
// instance stays active when it still runs, else goes to error.
func (m *Manager) RebootInstance(ctx context.Context, req RebootRequest) (store.Instance, error) {
	hard := req.hard()
	op := operation{
		action: "reboot",
		from:   []store.VMState{store.Active},
		task:   store.Rebooting,
		run: func(ctx context.Context, i store.Instance) error {
			err := m.driver.Reboot(ctx, i.UUID, hard)
			if hard && errors.Is(err, compute.ErrNotFound) {
				err = m.driver.Spawn(ctx, i.DriverInstance())
			}
			return err
		},
		to: store.Active,
		failed: func(ctx context.Context, i store.Instance, err error) store.Set {
			power := m.powerState(ctx, i.UUID)
			if power == compute.Running {
				return store.Set{VMState: store.Active, PowerState: power}
			}
			return store.Set{VMState: store.Error, PowerState: power, Fault: "reboot failed: " + err.Error()}
		},
	}
	if hard {
		op.from = []store.VMState{store.Active, store.Stopped, store.Error}
		op.task = store.RebootingHard
	}
	return m.do(ctx, req.InstanceUUID, req.RequestID, op)
}
