package volume

import (
	"context"
	"errors"
	"fmt"
	"github.com/novaflow/novaflow/policy"

	"github.com/novaflow/novaflow/drivers/volume"
	"github.com/novaflow/novaflow/managers"
)

// CreateVolume creates the volume on this host: creating -> available. A
// repeated request finds the volume and returns it; an ID that is taken by
// another volume (another size or name, another host, or deleted) is a
// Conflict; when that volume belongs to another project than the caller's,
// the Conflict says nothing about it. When the driver fails for good (a typed error), the volume is
// left in status error; other failures are retried.
func (m *Manager) CreateVolume(ctx context.Context, req CreateRequest) (Volume, error) {
	unlock, err := m.locks.Lock(ctx, req.VolumeID)
	if err != nil {
		return Volume{}, fmt.Errorf("create volume %s: %w", req.VolumeID, err)
	}
	defer unlock()
	// The caller owns what it creates; nobody when authorization is off.
	creds, authz := policy.CredentialsFrom(ctx)
	v, inserted, err := m.store.insert(ctx, req, m.host, managers.Ownership{ProjectID: creds.ProjectID, UserID: creds.UserID})
	if err != nil {
		return Volume{}, err
	}
	if !inserted {
		if v, err = m.store.get(ctx, req.VolumeID); err != nil {
			return Volume{}, err
		}
		switch {
		case authz && v.ProjectID != creds.ProjectID:
			// Another project's volume: say nothing about it (not even
			// whether it was deleted), only that the ID is taken.
			return Volume{}, managers.Conflict("volume_id %s is taken; choose another", req.VolumeID)
		case v.Status == Deleted:
			return Volume{}, managers.Conflict("volume %s was deleted; choose another volume_id", v.ID)
		case v.SizeGB != req.SizeGB || v.Name != req.Name || v.Host != m.host:
			return Volume{}, managers.Conflict("volume %s exists with name %q and %d GiB on host %s", v.ID, v.Name, v.SizeGB, v.Host)
		case v.Status == Error:
			return Volume{}, managers.Conflict("volume %s is in status error: its creation failed; delete it", v.ID)
		case v.Status != Creating:
			return v, nil // created by an earlier run of this request
		}
	}
	if err := m.driver.Create(ctx, v.ID, v.SizeGB); err != nil {
		err = driverError("create", v.ID, err)
		// A typed error is final: the volume is in error. Any other is
		// retried, and the retry finds the volume still creating.
		if _, final := managers.AsError(err); final {
			if _, uerr := m.store.update(context.WithoutCancel(ctx), v.ID, m.host, []Status{Creating}, "", change{status: Error}); uerr != nil {
				m.logger.ErrorContext(ctx, "mark volume error after a failed create", "volume", v.ID, "error", uerr)
			}
		}
		return Volume{}, err
	}
	return m.store.update(ctx, v.ID, m.host, []Status{Creating}, "", change{status: Available})
}

// DeleteVolume deletes the volume and its data: -> deleting -> deleted (the
// row stays). A volume that is attached is refused with a Conflict that
// names its instance: detach it first. Deleting a deleted volume succeeds.
func (m *Manager) DeleteVolume(ctx context.Context, req DeleteRequest) (Volume, error) {
	v, unlock, err := m.load(ctx, "delete", req.VolumeID)
	if err != nil {
		return Volume{}, err
	}
	defer unlock()
	switch {
	case v.Status == Deleted:
		return v, nil
	case v.attached():
		return Volume{}, statusError("delete", v)
	}
	from := []Status{Creating, Available, Error, Deleting}
	if _, err := m.store.update(ctx, v.ID, m.host, from, "", change{status: Deleting}); err != nil {
		return Volume{}, err
	}
	if err := m.driver.Delete(ctx, v.ID); err != nil && !errors.Is(err, volume.ErrNotFound) {
		return Volume{}, driverError("delete", v.ID, err) // stays deleting; a retry goes on
	}
	return m.store.update(ctx, v.ID, m.host, []Status{Deleting}, "", change{status: Deleted})
}

// AttachVolume attaches the volume to the instance and makes it visible at
// the request's mountpoint: available -> attaching -> in-use. Attaching it
// again to the same instance at the same mountpoint succeeds; a volume
// attached elsewhere is a Conflict. When the driver fails, the volume is
// available again.
func (m *Manager) AttachVolume(ctx context.Context, req AttachRequest) (Volume, error) {
	v, unlock, err := m.load(ctx, "attach", req.VolumeID)
	if err != nil {
		return Volume{}, err
	}
	defer unlock()
	switch {
	case v.Status == InUse && v.InstanceUUID == req.InstanceUUID && v.Mountpoint == req.Mountpoint:
		return v, nil
	case v.Status == Attaching && v.InstanceUUID == req.InstanceUUID:
		// An earlier run of this request stopped half-way: go on.
	case v.Status != Available:
		return Volume{}, statusError("attach", v)
	}
	ch := change{status: Attaching, instance: req.InstanceUUID, instHost: req.InstanceHost, mountpoint: req.Mountpoint}
	if _, err := m.store.update(ctx, v.ID, m.host, []Status{Available, Attaching}, "", ch); err != nil {
		return Volume{}, err
	}
	if err := m.driver.Attach(ctx, v.ID, req.Mountpoint); err != nil {
		if _, uerr := m.store.update(context.WithoutCancel(ctx), v.ID, m.host, []Status{Attaching}, req.InstanceUUID, change{status: Available}); uerr != nil {
			m.logger.ErrorContext(ctx, "revert a failed attach", "volume", v.ID, "error", uerr)
		}
		return Volume{}, driverError("attach", v.ID, err)
	}
	ch.status = InUse
	return m.store.update(ctx, v.ID, m.host, []Status{Attaching}, req.InstanceUUID, ch)
}

// DetachVolume detaches the volume from its instance: in-use -> detaching
// -> available. Detaching an available volume succeeds; with an
// instance_uuid, a volume attached to another instance is a Conflict.
func (m *Manager) DetachVolume(ctx context.Context, req DetachRequest) (Volume, error) {
	v, unlock, err := m.load(ctx, "detach", req.VolumeID)
	if err != nil {
		return Volume{}, err
	}
	defer unlock()
	switch {
	case v.Status == Available:
		return v, nil
	case !v.attached():
		return Volume{}, statusError("detach", v)
	case req.InstanceUUID != "" && v.InstanceUUID != req.InstanceUUID:
		return Volume{}, managers.Conflict("cannot detach volume %s from instance %s: it is attached to instance %s",
			v.ID, req.InstanceUUID, v.InstanceUUID)
	}
	ch := change{status: Detaching, instance: v.InstanceUUID, instHost: v.InstanceHost, mountpoint: v.Mountpoint}
	if _, err := m.store.update(ctx, v.ID, m.host, []Status{Attaching, InUse, Detaching}, v.InstanceUUID, ch); err != nil {
		return Volume{}, err
	}
	if err := m.driver.Detach(ctx, v.ID, v.Mountpoint); err != nil {
		return Volume{}, driverError("detach", v.ID, err) // stays detaching; a retry goes on
	}
	return m.store.update(ctx, v.ID, m.host, []Status{Detaching}, v.InstanceUUID, change{status: Available})
}

// ListVolumes returns the volumes the request selects, oldest first; any
// volume service answers for every host.
func (m *Manager) ListVolumes(ctx context.Context, req ListRequest) (ListResult, error) {
	// As nova and cinder list: a caller sees its project's volumes, an
	// admin (policy.AdminRule) every project's; everything when
	// authorization is off.
	var project *string
	if creds, ok := policy.CredentialsFrom(ctx); ok && !creds.Admin {
		project = &creds.ProjectID
	}
	vols, err := m.store.list(ctx, req, project)
	if err != nil {
		return ListResult{}, err
	}
	return ListResult{Volumes: vols}, nil
}

// load locks the volume and returns it, or NotFound; a Conflict when it is
// on another host. The caller must call unlock.
func (m *Manager) load(ctx context.Context, verb, id string) (Volume, func(), error) {
	unlock, err := m.locks.Lock(ctx, id)
	if err != nil {
		return Volume{}, nil, fmt.Errorf("%s volume %s: %w", verb, id, err)
	}
	v, err := m.store.get(ctx, id)
	switch {
	case errors.Is(err, errNoRow):
		err = managers.NotFound("volume", id)
	case err == nil && v.Host != m.host:
		err = notOnHost(verb, v, m.host)
	}
	if err != nil {
		unlock()
		return Volume{}, nil, err
	}
	return v, unlock, nil
}

// Owner says who owns the volume a method names (managers.Owner), for the
// authorization policy's %(project_id)s.
func (m *Manager) Owner(ctx context.Context, method, object string) (managers.Ownership, error) {
	return m.store.owner(ctx, object)
}
