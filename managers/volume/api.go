package volume

import (
	"time"

	"github.com/google/uuid"

	"github.com/novaflow/novaflow/drivers/volume"
	"github.com/novaflow/novaflow/managers"
)

// Status is a volume's status, with cinder's names.
type Status string

// The statuses of a volume.
const (
	Creating  Status = "creating"  // create_volume is making it
	Available Status = "available" // ready, attached to nothing
	Attaching Status = "attaching" // attach_volume is attaching it
	InUse     Status = "in-use"    // attached to an instance
	Detaching Status = "detaching" // detach_volume is detaching it
	Deleting  Status = "deleting"  // delete_volume is deleting it
	Error     Status = "error"     // the driver failed to create it
	Deleted   Status = "deleted"   // gone; the row stays (soft delete)
)

// Volume is a volume as the volumes table has it: the result of every
// method but list_volumes.
type Volume struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	SizeGB int    `json:"size_gb"`
	// Host is the host that keeps the volume's data; its calls run there.
	Host   string `json:"host"`
	Status Status `json:"status"`
	// InstanceUUID is the instance it is attached to; empty when none.
	InstanceUUID string `json:"instance_uuid,omitempty"`
	// InstanceHost is that instance's host, as the caller of attach said.
	InstanceHost string `json:"instance_host,omitempty"`
	// Mountpoint is where the volume is visible on the instance's host;
	// empty when nowhere (the instance's compute driver has no directory).
	Mountpoint string     `json:"mountpoint,omitempty"`
	AttachedAt *time.Time `json:"attached_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	DeletedAt  *time.Time `json:"deleted_at,omitempty"`
	// ProjectID and UserID own the volume (the creator's token); empty when
	// it was created while authorization was off.
	ProjectID string `json:"project_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
}

// attached reports whether the volume has an attachment (being attached, in
// use or being detached).
func (v Volume) attached() bool {
	return v.Status == Attaching || v.Status == InUse || v.Status == Detaching
}

// MaxNameLen is the longest volume name, in bytes.
const MaxNameLen = managers.MaxNameLen

// CreateRequest is the request of create_volume. Its top-level "host", when
// present, picks the host that keeps the volume (the call runs there).
type CreateRequest struct {
	// VolumeID is the new volume's ID, a UUID the caller chooses, so that a
	// retried request creates nothing twice.
	VolumeID string `json:"volume_id" required:"true"`
	// Name is a display name, may be empty.
	Name string `json:"name,omitempty"`
	// SizeGB is the size in GiB, 1 to drivers/volume.MaxSizeGB.
	SizeGB int `json:"size_gb" required:"true"`
}

// Validate checks the ID, name and size.
func (r CreateRequest) Validate() error {
	if err := validateUUID("volume_id", r.VolumeID); err != nil {
		return err
	}
	if err := managers.CheckText("name", r.Name, MaxNameLen); err != nil {
		return err
	}
	if err := volume.ValidateSize(r.SizeGB); err != nil {
		return managers.InvalidArgument("size_gb", "must be between 1 and %d, got %d", volume.MaxSizeGB, r.SizeGB)
	}
	return nil
}

// DeleteRequest is the request of delete_volume.
type DeleteRequest struct {
	VolumeID string `json:"volume_id" required:"true"`
}

// Validate checks the ID.
func (r DeleteRequest) Validate() error { return validateUUID("volume_id", r.VolumeID) }

// AttachRequest is the request of attach_volume, which compute's
// attach_volume sends.
type AttachRequest struct {
	VolumeID     string `json:"volume_id" required:"true"`
	InstanceUUID string `json:"instance_uuid" required:"true"`
	// InstanceHost is the instance's host, recorded with the attachment.
	InstanceHost string `json:"instance_host,omitempty"`
	// Mountpoint is where to make the volume visible, an absolute path on
	// the instance's host (compute passes the instance's
	// <state dir>/instances/<uuid>/volumes/<volume id>); empty for nowhere.
	Mountpoint string `json:"mountpoint,omitempty"`
}

// Validate checks the IDs and the mountpoint.
func (r AttachRequest) Validate() error {
	if err := validateUUID("volume_id", r.VolumeID); err != nil {
		return err
	}
	if err := validateUUID("instance_uuid", r.InstanceUUID); err != nil {
		return err
	}
	if err := managers.CheckText("instance_host", r.InstanceHost, MaxNameLen); err != nil {
		return err
	}
	if err := volume.ValidateMountpoint(r.Mountpoint); err != nil {
		return invalidArgument(err)
	}
	return nil
}

// DetachRequest is the request of detach_volume.
type DetachRequest struct {
	VolumeID string `json:"volume_id" required:"true"`
	// InstanceUUID, when set, must be the instance the volume is attached
	// to: a detach meant for another attachment fails with a Conflict.
	InstanceUUID string `json:"instance_uuid,omitempty"`
}

// Validate checks the IDs.
func (r DetachRequest) Validate() error {
	if err := validateUUID("volume_id", r.VolumeID); err != nil {
		return err
	}
	if r.InstanceUUID != "" {
		return validateUUID("instance_uuid", r.InstanceUUID)
	}
	return nil
}

// ListRequest is the request of list_volumes; every filter is optional.
type ListRequest struct {
	// InstanceUUID lists the volumes attached to this instance.
	InstanceUUID string `json:"instance_uuid,omitempty"`
	// Status lists the volumes in this status.
	Status Status `json:"status,omitempty"`
	// Deleted includes deleted volumes.
	Deleted bool `json:"deleted,omitempty"`
}

// Validate checks the filters.
func (r ListRequest) Validate() error {
	if r.InstanceUUID != "" {
		if err := validateUUID("instance_uuid", r.InstanceUUID); err != nil {
			return err
		}
	}
	switch r.Status {
	case "", Creating, Available, Attaching, InUse, Detaching, Deleting, Error, Deleted:
		return nil
	}
	return managers.InvalidArgument("status", "%q is not a volume status", r.Status)
}

// ListResult is the result of list_volumes: the volumes, by creation time.
type ListResult struct {
	Volumes []Volume `json:"volumes"`
}

// validateUUID accepts canonical UUIDs only: the volumes table keys on them.
func validateUUID(field, s string) error {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return managers.InvalidArgument(field, "%q is not a lower-case UUID (want e.g. 6c3d1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11)", s)
	}
	return nil
}
