package compute

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// BuildAndRunInstance claims the instance on this host, when the scheduler or
// the conductor has not already, and spawns it: building -> active.
//
// It may run twice for one request (an activity retried after a crash): an
// instance already active here is returned as it is, and one the driver
// already has is not spawned again. When the claim or the spawn fails, what
// the driver made is destroyed, the claim is released, the instance goes back
// to task_state scheduling, and the error has type Rescheduled (the
// conductor tries another host), InvalidArgument (the image cannot run
// anywhere), NotFound or Conflict.
func (m *Manager) BuildAndRunInstance(ctx context.Context, req InstanceRequest) (store.Instance, error) {
	uuid := req.InstanceUUID
	unlock, err := m.locks.Lock(ctx, uuid)
	if err != nil {
		return store.Instance{}, fmt.Errorf("build instance %s: %w", uuid, err)
	}
	defer unlock()
	inst, err := m.load(ctx, "build", uuid)
	if err != nil {
		return store.Instance{}, err
	}
	if inst.Host == m.host && inst.VMState == store.Active {
		// Built by an earlier run of this request: the action of that run,
		// when it could not be finished then, is finished now.
		if act, err := m.store.StartAction(ctx, requestID(ctx, req.RequestID), "build", uuid, m.host); err != nil {
			return store.Instance{}, fmt.Errorf("build instance %s: %w", uuid, err)
		} else if act.Result != store.ResultSuccess {
			if err := m.finish(ctx, act, nil); err != nil {
				return store.Instance{}, err
			}
		}
		return inst, nil
	}
	act, err := m.store.StartAction(ctx, requestID(ctx, req.RequestID), "build", uuid, m.host)
	if err != nil {
		return store.Instance{}, fmt.Errorf("build instance %s: %w", uuid, err)
	}
	inst, buildErr := m.build(ctx, inst)
	if err := m.finish(ctx, act, buildErr); err != nil {
		return store.Instance{}, err
	}
	return inst, buildErr
}

func (m *Manager) build(ctx context.Context, inst store.Instance) (store.Instance, error) {
	uuid := inst.UUID
	if inst.VMState != store.Building || inst.TaskState == store.Deleting {
		return store.Instance{}, storeError("build", uuid, &store.ConflictError{Current: inst})
	}
	// nova's instance_claim: this host must have room, whatever the
	// scheduler saw.
	if _, err := m.store.Claim(ctx, uuid, m.host); err != nil {
		var ce *store.ConflictError
		switch {
		case errors.Is(err, store.ErrNotFound):
			return store.Instance{}, managers.NotFound("instance", uuid)
		case errors.As(err, &ce):
			return store.Instance{}, ce.Typed(fmt.Sprintf("cannot build: %v", ce))
		case errors.Is(err, store.ErrClaimed):
			return store.Instance{}, managers.Conflict("cannot build: %v", errors.Unwrap(err))
		case errors.Is(err, store.ErrInsufficient), errors.Is(err, store.ErrNoNode):
			return store.Instance{}, &managers.Error{Type: RescheduledType,
				Message: fmt.Sprintf("build of instance %s on host %s was re-scheduled: %v", uuid, m.host, err)}
		default:
			return store.Instance{}, fmt.Errorf("build instance %s: %w", uuid, err)
		}
	}
	inst, err := m.store.Update(ctx, uuid,
		store.Cond{Host: m.host, VMStates: []store.VMState{store.Building},
			TaskStates: []store.TaskState{store.NoTask, store.Scheduling, store.Spawning}},
		store.Set{TaskState: store.Spawning})
	if err != nil {
		return store.Instance{}, storeError("build", uuid, err)
	}
	if err := m.spawn(ctx, inst); err != nil {
		m.abortBuild(ctx, uuid)
		if errors.Is(err, compute.ErrInvalid) {
			return store.Instance{}, driverError("build", uuid, err)
		}
		return store.Instance{}, &managers.Error{Type: RescheduledType,
			Message: fmt.Sprintf("build of instance %s on host %s was re-scheduled: %v", uuid, m.host, err)}
	}
	inst, err = m.store.Update(ctx, uuid,
		store.Cond{Host: m.host, VMStates: []store.VMState{store.Building}, TaskStates: []store.TaskState{store.Spawning}},
		store.Set{VMState: store.Active, TaskState: store.NoTask, PowerState: m.powerState(ctx, uuid)})
	if err != nil {
		// The instance was released or deleted under the build: leave
		// nothing of it on this host.
		if derr := m.driver.Destroy(context.WithoutCancel(ctx), uuid); derr != nil && !errors.Is(derr, compute.ErrNotFound) {
			m.logger.ErrorContext(ctx, "destroy instance after a lost build", "instance", uuid, "error", derr)
		}
		return store.Instance{}, storeError("build", uuid, err)
	}
	m.logger.InfoContext(ctx, "instance built", "instance", uuid, "name", inst.Name)
	return inst, nil
}

// spawn starts the instance unless an earlier run of the build already did.
func (m *Manager) spawn(ctx context.Context, inst store.Instance) error {
	info, err := m.driver.Info(ctx, inst.UUID)
	switch {
	case err == nil:
		if info.PowerState == compute.Running {
			return nil
		}
		return m.driver.PowerOn(ctx, inst.UUID)
	case errors.Is(err, compute.ErrNotFound):
		err = m.driver.Spawn(ctx, inst.DriverInstance())
		if errors.Is(err, compute.ErrExists) {
			return nil
		}
		return err
	default:
		return err
	}
}

// abortBuild undoes a failed build on this host: destroys what the driver
// made, puts the instance back to scheduling and releases its claim.
func (m *Manager) abortBuild(ctx context.Context, uuid string) {
	ctx = context.WithoutCancel(ctx)
	if err := m.driver.Destroy(ctx, uuid); err != nil && !errors.Is(err, compute.ErrNotFound) {
		m.logger.ErrorContext(ctx, "destroy instance after a failed build", "instance", uuid, "error", err)
	}
	if _, err := m.store.Update(ctx, uuid,
		store.Cond{Host: m.host, TaskStates: []store.TaskState{store.Spawning}},
		store.Set{TaskState: store.Scheduling, PowerState: compute.NoState}); err != nil {
		m.logger.ErrorContext(ctx, "reset instance after a failed build", "instance", uuid, "error", err)
	}
	if err := m.store.Release(ctx, uuid, m.host); err != nil {
		m.logger.ErrorContext(ctx, "release claim after a failed build", "instance", uuid, "error", err)
	}
}
