package store

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/novaflow/novaflow/drivers/compute"
)

// VMState is an instance's stable state, with nova's names (nova.compute.vm_states).
type VMState string

// The vm states the reference control plane uses.
const (
	Building VMState = "building" // created, not yet running anywhere
	Active   VMState = "active"   // running on its host
	Stopped  VMState = "stopped"  // powered off on its host
	Error    VMState = "error"    // an operation failed; Instance.Fault says why
	Deleted  VMState = "deleted"  // terminated (the row is soft-deleted)
)

// TaskState is the operation in progress on an instance, with nova's names
// (nova.compute.task_states). NoTask ("", null in JSON and in the database)
// means none.
type TaskState string

// The task states the reference control plane uses.
const (
	NoTask        TaskState = ""
	Scheduling    TaskState = "scheduling"
	Spawning      TaskState = "spawning"
	PoweringOff   TaskState = "powering-off"
	PoweringOn    TaskState = "powering-on"
	Rebooting     TaskState = "rebooting"
	RebootingHard TaskState = "rebooting_hard"
	Deleting      TaskState = "deleting"
)

// MarshalJSON writes NoTask as null, as nova shows it.
func (t TaskState) MarshalJSON() ([]byte, error) {
	if t == NoTask {
		return []byte("null"), nil
	}
	return json.Marshal(string(t))
}

// UnmarshalJSON reads null as NoTask.
func (t *TaskState) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = NoTask
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = TaskState(s)
	return nil
}

// Image is what an instance runs: a command executed without a shell, and
// its whole environment.
type Image struct {
	Command []string `json:"command"`
	Env     []string `json:"env,omitempty"`
}

// Instance is one row of the instances table.
type Instance struct {
	UUID         string             `json:"uuid"`
	Name         string             `json:"name"`
	Host         string             `json:"host,omitempty"` // empty until claimed
	VMState      VMState            `json:"vm_state"`
	TaskState    TaskState          `json:"task_state"`
	PowerState   compute.PowerState `json:"power_state"`
	Flavor       compute.Flavor     `json:"flavor"`
	Image        Image              `json:"image"`
	Fault        string             `json:"fault,omitempty"` // why it is in ERROR
	LaunchedAt   *time.Time         `json:"launched_at,omitempty"`
	TerminatedAt *time.Time         `json:"terminated_at,omitempty"`
	CreatedAt    time.Time          `json:"created_at"`
	UpdatedAt    time.Time          `json:"updated_at"`
	DeletedAt    *time.Time         `json:"deleted_at,omitempty"`
	Deleted      bool               `json:"deleted"`
	ProjectID    string             `json:"project_id,omitempty"` // owner (package auth); empty when built without authorization
	UserID       string             `json:"user_id,omitempty"`
}

// BeingDeleted reports whether the instance's terminate has begun
// (task_state deleting) or is done: no work may start on it any more.
func (i Instance) BeingDeleted() bool {
	return i.TaskState == Deleting || i.VMState == Deleted || i.Deleted
}

// DriverInstance is what a compute driver needs to spawn the instance.
func (i Instance) DriverInstance() compute.Instance {
	return compute.Instance{
		UUID:    i.UUID,
		Name:    i.Name,
		Flavor:  i.Flavor,
		Command: i.Image.Command,
		Env:     i.Image.Env,
	}
}

// Node is one row of the compute_nodes table: a host's capacity and the
// usage of the instances claimed on it.
type Node struct {
	Host         string    `json:"host"`
	VCPUs        int       `json:"vcpus"`
	MemoryMB     int       `json:"memory_mb"`
	DiskGB       int       `json:"disk_gb"`
	VCPUsUsed    int       `json:"vcpus_used"`
	MemoryMBUsed int       `json:"memory_mb_used"`
	DiskGBUsed   int       `json:"disk_gb_used"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Free is the node's capacity not claimed by instances; it may be negative
// when the host shrank under its instances.
func (n Node) Free() compute.Resources {
	return compute.Resources{
		VCPUs:    n.VCPUs - n.VCPUsUsed,
		MemoryMB: n.MemoryMB - n.MemoryMBUsed,
		DiskGB:   n.DiskGB - n.DiskGBUsed,
	}
}

// Fits reports whether f fits in free.
func Fits(free compute.Resources, f compute.Flavor) bool {
	return f.VCPUs <= free.VCPUs && f.MemoryMB <= free.MemoryMB && f.DiskGB <= free.DiskGB
}

// Action results, as nova's instance action events.
const (
	ResultSuccess = "Success"
	ResultError   = "Error"
)

// Action is one row of instance_actions: one operation on an instance.
type Action struct {
	ID           int64      `json:"id"`
	RequestID    string     `json:"request_id"`
	Action       string     `json:"action"`
	InstanceUUID string     `json:"instance_uuid"`
	Host         string     `json:"host,omitempty"`
	StartTime    time.Time  `json:"start_time"`
	FinishTime   *time.Time `json:"finish_time,omitempty"`
	Result       string     `json:"result,omitempty"` // empty while running
	Message      string     `json:"message,omitempty"`
}
