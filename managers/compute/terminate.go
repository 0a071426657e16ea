package compute

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// TerminateInstance destroys the instance on this host and soft-deletes its
// row, giving its resources back to the node: any state -> deleted. An
// instance on no host (never built, or its claim released) is deleted by any
// compute service. Terminating a deleted instance succeeds; when the driver
// fails, the instance goes to error, as in nova. The instance's volumes are
// detached by durable casts to the volume service (detachVolumes).
func (m *Manager) TerminateInstance(ctx context.Context, req InstanceRequest) (store.Instance, error) {
	uuid := req.InstanceUUID
	unlock, err := m.locks.Lock(ctx, uuid)
	if err != nil {
		return store.Instance{}, fmt.Errorf("terminate instance %s: %w", uuid, err)
	}
	defer unlock()
	inst, err := m.store.Get(ctx, uuid)
	if err != nil {
		return store.Instance{}, storeError("terminate", uuid, err)
	}
	if terminateLookedUp != nil {
		terminateLookedUp(uuid)
	}
	rid := requestID(ctx, req.RequestID)
	if inst.Deleted {
		// Deleted by an earlier run of this request, whose action could
		// not be finished then, or by another request: nothing to do but
		// the volumes a run cut short may have left.
		if err := m.detachVolumes(ctx, uuid); err != nil {
			return store.Instance{}, err
		}
		if err := m.store.FinishRequest(ctx, rid, "delete", uuid, nil); err != nil {
			return store.Instance{}, managers.Unavailable("terminate instance %s: record its outcome: %v", uuid, err)
		}
		return inst, nil
	}
	act, err := m.store.StartAction(ctx, rid, "delete", uuid, m.host)
	if err != nil {
		return store.Instance{}, fmt.Errorf("terminate instance %s: %w", uuid, err)
	}
	inst, opErr := m.terminate(ctx, inst)
	if err := m.finish(ctx, act, opErr); err != nil {
		return store.Instance{}, err
	}
	return inst, opErr
}

func (m *Manager) terminate(ctx context.Context, inst store.Instance) (store.Instance, error) {
	uuid := inst.UUID
	if inst.Host != "" && inst.Host != m.host {
		return store.Instance{}, notOnHost("terminate", inst, m.host)
	}
	// An instance on no host is deleted here only while it still is on
	// none: the conductor may claim it for a host between the look-up and
	// now, and that host then builds it.
	cond := store.Cond{Host: inst.Host, NoHost: inst.Host == ""}
	if _, err := m.store.Update(ctx, uuid, cond, store.Set{TaskState: store.Deleting}); err != nil {
		var ce *store.ConflictError
		if inst.Host == "" && errors.As(err, &ce) && ce.Current.Host != "" {
			if ce.Current.Host == m.host {
				return m.terminate(ctx, ce.Current) // claimed for this host: delete it here
			}
			// Claimed for another host meanwhile: that host deletes it
			// (a retry routes there).
			return store.Instance{}, notOnHost("terminate", ce.Current, m.host)
		}
		return store.Instance{}, storeError("terminate", uuid, err)
	}
	if inst.Host == m.host {
		if err := m.driver.Destroy(ctx, uuid); err != nil && !errors.Is(err, compute.ErrNotFound) {
			if _, uerr := m.store.Update(context.WithoutCancel(ctx), uuid,
				store.Cond{Host: m.host, TaskStates: []store.TaskState{store.Deleting}},
				store.Set{VMState: store.Error, TaskState: store.NoTask, PowerState: m.powerState(ctx, uuid),
					Fault: "terminate failed: " + err.Error()}); uerr != nil {
				m.logger.ErrorContext(ctx, "set instance to error after a failed terminate", "instance", uuid, "error", uerr)
			}
			return store.Instance{}, driverError("terminate", uuid, err)
		}
	}
	if err := m.detachVolumes(ctx, uuid); err != nil {
		return store.Instance{}, err
	}
	inst, err := m.store.MarkDeleted(ctx, uuid)
	if err != nil {
		return store.Instance{}, storeError("terminate", uuid, err)
	}
	m.logger.InfoContext(ctx, "instance terminated", "instance", uuid)
	return inst, nil
}

// terminateLookedUp, when set (by tests), runs in TerminateInstance right
// after it has read the instance.
var terminateLookedUp func(uuid string)
