package compute

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// RescheduledType is the error type of a build that failed on this host but
// may succeed on another (nova's RescheduledException). Like every typed
// error but Unavailable it is not retried on the same host: the conductor
// releases the claim and tries an alternate.
const RescheduledType = "Rescheduled"

// InstanceRequest names the instance of an operation: the request of
// build_and_run_instance, start_instance and terminate_instance.
type InstanceRequest struct {
	// InstanceUUID is the instance, a canonical UUID.
	InstanceUUID string `json:"instance_uuid" required:"true"`
	// RequestID ties the operation's audit row to a request; a retry with
	// the same id reuses the row. Default: a new req-<uuid>.
	RequestID string `json:"request_id,omitempty"`
}

// Validate checks the instance UUID.
func (r InstanceRequest) Validate() error { return validateUUID(r.InstanceUUID) }

// StopRequest is the request of stop_instance.
type StopRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	RequestID    string `json:"request_id,omitempty"`
	// Force powers the instance off at once instead of waiting up to
	// NOVAFLOW_COMPUTE_SHUTDOWN_TIMEOUT for a clean shutdown (nova's
	// clean_shutdown=False).
	Force bool `json:"force,omitempty"`
}

// Validate checks the instance UUID.
func (r StopRequest) Validate() error { return validateUUID(r.InstanceUUID) }

// Reboot types, as nova's reboot_type.
const (
	RebootSoft = "SOFT"
	RebootHard = "HARD"
)

// RebootRequest is the request of reboot_instance.
type RebootRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	RequestID    string `json:"request_id,omitempty"`
	// RebootType is SOFT (default: a clean stop, then start) or HARD (kill,
	// then start; recreates the instance when the driver lost it).
	RebootType string `json:"reboot_type,omitempty"`
}

// Validate checks the instance UUID and the reboot type.
func (r RebootRequest) Validate() error {
	if err := validateUUID(r.InstanceUUID); err != nil {
		return err
	}
	switch strings.ToUpper(r.RebootType) {
	case "", RebootSoft, RebootHard:
		return nil
	}
	return managers.InvalidArgument("reboot_type", "want SOFT or HARD, got %q", r.RebootType)
}

func (r RebootRequest) hard() bool { return strings.EqualFold(r.RebootType, RebootHard) }

// InfoRequest is the request of get_instance_info.
type InfoRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
}

// Validate checks the instance UUID.
func (r InfoRequest) Validate() error { return validateUUID(r.InstanceUUID) }

// InstanceInfo is the result of get_instance_info: the instance's row and,
// when it is on this host, what the driver reports.
type InstanceInfo struct {
	store.Instance
	// Driver is what the driver reports; nil when the instance is not on
	// this host or the driver does not know it.
	Driver *DriverInfo `json:"driver,omitempty"`
}

// DriverInfo is what the compute driver reports about an instance.
type DriverInfo struct {
	PowerState compute.PowerState `json:"power_state"`
	PID        int                `json:"pid,omitempty"`
	StartedAt  *time.Time         `json:"started_at,omitempty"`
	ExitCode   *int               `json:"exit_code,omitempty"`
}

func driverInfo(info compute.InstanceInfo) *DriverInfo {
	d := &DriverInfo{PowerState: info.PowerState, PID: info.PID, ExitCode: info.ExitCode}
	if !info.StartedAt.IsZero() {
		t := info.StartedAt
		d.StartedAt = &t
	}
	return d
}

// validateUUID accepts canonical UUIDs only: the instances table keys on them.
func validateUUID(s string) error {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != strings.ToLower(s) {
		return managers.InvalidArgument("instance_uuid", "%q is not a UUID (want e.g. 0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11)", s)
	}
	return nil
}

// requestID returns id, or a new req-<uuid> when it is empty, as nova's
// request ids.
func requestID(id string) string {
	if id != "" {
		return id
	}
	return "req-" + uuid.NewString()
}
