package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/rpc"
)

// VolumeTopic is the topic of the volume service that compute calls to
// attach and detach volumes.
const VolumeTopic = "volume"

// volumeAPIVersion is the version of the volume methods compute calls.
const volumeAPIVersion = "1.0"

// processDriver is the compute driver whose instances have a directory on
// the host, <state dir>/instances/<uuid>/, where volumes are made visible.
const processDriver = "process"

// VolumeRequest is the request of attach_volume and detach_volume.
type VolumeRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	// VolumeID is the volume, a UUID of the volume service.
	VolumeID string `json:"volume_id" required:"true"`
	// RequestID ties the operation's audit row to a request, as for the
	// other methods. Default: a new req-<uuid>.
	RequestID string `json:"request_id,omitempty"`
}

// Validate checks the UUIDs and the request id.
func (r VolumeRequest) Validate() error {
	if err := validateOp(r.InstanceUUID, r.RequestID); err != nil {
		return err
	}
	if err := validateUUID(r.VolumeID); err != nil {
		e, _ := managers.AsError(err)
		return managers.InvalidArgument("volume_id", "%s", e.Message)
	}
	return nil
}

// attachRequest is what compute sends to volume.attach_volume.
type attachRequest struct {
	VolumeID     string `json:"volume_id"`
	InstanceUUID string `json:"instance_uuid"`
	InstanceHost string `json:"instance_host"`
	Mountpoint   string `json:"mountpoint,omitempty"`
}

// detachRequest is what compute sends to volume.detach_volume.
type detachRequest struct {
	VolumeID     string `json:"volume_id"`
	InstanceUUID string `json:"instance_uuid"`
}

// AttachVolume attaches a volume to an active or stopped instance of this
// host by calling the volume service (volume.attach_volume, routed to the
// volume's host): compute never writes the volumes table. With the process
// driver the volume is made visible at volumes/<volume id> in the
// instance's directory (<state dir>/instances/<uuid>/), which the volume
// service must be able to reach: its file driver makes the link on its own
// host. The result is the volume as the volume service returns it; its
// typed errors (NotFound, Conflict...) come back as they are.
//
// Compute records the attachment first (nova's block device mapping), so
// that terminating the instance detaches the volume even if this call's
// outcome is lost; a refusal of the volume service removes the record.
func (m *Manager) AttachVolume(ctx context.Context, req VolumeRequest) (json.RawMessage, error) {
	return m.volumeOp(ctx, "attach_volume", req, true, func(inst store.Instance) error {
		if inst.Deleted {
			return managers.NotFound("instance", inst.UUID)
		}
		if inst.Host != m.host {
			return notOnHost("attach a volume to", inst, m.host)
		}
		if !slices.Contains([]store.VMState{store.Active, store.Stopped}, inst.VMState) || inst.TaskState != store.NoTask {
			return storeError("attach a volume to", inst.UUID, &store.ConflictError{Current: inst})
		}
		return nil
	}, attachRequest{
		VolumeID: req.VolumeID, InstanceUUID: req.InstanceUUID, InstanceHost: m.host,
		Mountpoint: m.volumeMountpoint(req.InstanceUUID, req.VolumeID),
	})
}

// DetachVolume detaches a volume from an instance of this host (deleted
// instances too, so that their volumes can be freed) by calling
// volume.detach_volume. The result is the volume as the volume service
// returns it. Once the volume service has answered (detached, or the volume
// is gone or attached elsewhere) compute forgets the attachment.
func (m *Manager) DetachVolume(ctx context.Context, req VolumeRequest) (json.RawMessage, error) {
	return m.volumeOp(ctx, "detach_volume", req, false, func(inst store.Instance) error {
		if inst.Host != m.host {
			return notOnHost("detach a volume from", inst, m.host)
		}
		return nil
	}, detachRequest{VolumeID: req.VolumeID, InstanceUUID: req.InstanceUUID})
}

// volumeOp runs a volume method for an instance of this host under the
// instance's lock, with an instance action, after check accepts the
// instance, and keeps compute's record of the instance's volumes: attach
// records the volume before the call and forgets it when the volume service
// refuses; a detach forgets it once the volume service has answered.
func (m *Manager) volumeOp(ctx context.Context, method string, req VolumeRequest, attach bool, check func(store.Instance) error, volumeReq any) (json.RawMessage, error) {
	uuid := req.InstanceUUID
	if m.rpc == nil {
		return nil, fmt.Errorf("%s: the compute manager was built without a Temporal client: it cannot call the volume service", method)
	}
	unlock, err := m.locks.Lock(ctx, uuid)
	if err != nil {
		return nil, fmt.Errorf("%s of instance %s: %w", method, uuid, err)
	}
	defer unlock()
	inst, err := m.store.Get(ctx, uuid)
	if err != nil {
		return nil, storeError(method+" of", uuid, err)
	}
	if err := check(inst); err != nil {
		return nil, err
	}
	act, err := m.store.StartAction(ctx, requestID(ctx, req.RequestID), method, uuid, m.host)
	if err != nil {
		return nil, fmt.Errorf("%s of instance %s: %w", method, uuid, err)
	}
	if attach {
		if err := m.store.AddVolume(ctx, uuid, req.VolumeID); err != nil {
			err = managers.Unavailable("%s of instance %s: %v", method, uuid, err)
			m.finish(ctx, act, err)
			return nil, err
		}
	}
	var out json.RawMessage
	err = m.rpc.Call(ctx, VolumeTopic, method, volumeReq, &out, rpc.Version(volumeAPIVersion))
	var refused *managers.Error
	answered := err == nil || (errors.As(err, &refused) && refused.Type != managers.UnavailableType && refused.Type != managers.TimeoutType)
	if answered && (err != nil || !attach) {
		// The volume is not (or no longer) attached to this instance.
		if rerr := m.store.RemoveVolume(context.WithoutCancel(ctx), uuid, req.VolumeID); rerr != nil {
			m.logger.ErrorContext(ctx, "forget a volume of an instance", "instance", uuid, "volume", req.VolumeID, "error", rerr)
		}
	}
	if err != nil && refused == nil {
		err = fmt.Errorf("%s of instance %s: %w", method, uuid, err)
	}
	m.finish(ctx, act, err)
	return out, err
}

// detachVolumes asks the volume service to detach every volume compute
// recorded for the instance, with a cast each (durable: if the volume
// service is down it runs when it is back, within NOVAFLOW_CAST_TIMEOUT;
// visible in the Web UI either way), then forgets them. The casts' request
// IDs are derived from the instance and volume, so a retried terminate
// starts no second one. nova detaches in terminate too, but a volume
// service that is down then leaves the volume in-use by a deleted instance.
func (m *Manager) detachVolumes(ctx context.Context, uuid string) error {
	ids, err := m.store.Volumes(ctx, uuid)
	if err != nil {
		return managers.Unavailable("terminate instance %s: %v", uuid, err)
	}
	if len(ids) > 0 && m.rpc == nil {
		return fmt.Errorf("terminate instance %s: the compute manager was built without a Temporal client: it cannot detach volumes %v", uuid, ids)
	}
	for _, id := range ids {
		exec, err := m.rpc.Cast(ctx, VolumeTopic, "detach_volume", detachRequest{VolumeID: id, InstanceUUID: uuid},
			rpc.Version(volumeAPIVersion), rpc.RequestID("terminate-"+uuid+"-"+id))
		if err != nil {
			return managers.Unavailable("terminate instance %s: ask the volume service to detach volume %s: %v", uuid, id, err)
		}
		if err := m.store.RemoveVolume(ctx, uuid, id); err != nil {
			return managers.Unavailable("terminate instance %s: %v", uuid, err)
		}
		m.logger.InfoContext(ctx, "volume detach requested", "instance", uuid, "volume", id, "workflow_id", exec.WorkflowID)
	}
	return nil
}

// volumeMountpoint is where the volume service makes a volume visible for
// an instance of this host: volumes/<volume id> in the instance's directory
// with the process driver; nowhere ("") with drivers whose instances have no
// directory (fake).
func (m *Manager) volumeMountpoint(uuid, volumeID string) string {
	if m.cfg.Driver != processDriver {
		return ""
	}
	dir, err := filepath.Abs(m.stateDir)
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "instances", uuid, "volumes", volumeID)
}
