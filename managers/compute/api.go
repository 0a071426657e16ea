package compute

import (
	"context"
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

// Validate checks the instance UUID and the request id.
func (r InstanceRequest) Validate() error { return validateOp(r.InstanceUUID, r.RequestID) }

// StopRequest is the request of stop_instance.
type StopRequest struct {
	InstanceUUID string `json:"instance_uuid" required:"true"`
	RequestID    string `json:"request_id,omitempty"`
	// Force powers the instance off at once instead of waiting up to
	// NOVAFLOW_COMPUTE_SHUTDOWN_TIMEOUT for a clean shutdown (nova's
	// clean_shutdown=False).
	Force bool `json:"force,omitempty"`
}

// Validate checks the instance UUID and the request id.
func (r StopRequest) Validate() error { return validateOp(r.InstanceUUID, r.RequestID) }

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
	if err := validateOp(r.InstanceUUID, r.RequestID); err != nil {
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
func validateUUID(s string) error { return managers.CheckUUID("instance_uuid", s) }

// validateOp checks the instance UUID and the request id of an operation:
// the id is stored in instance_actions, as text in a unique index.
func validateOp(uuid, requestID string) error {
	if err := validateUUID(uuid); err != nil {
		return err
	}
	return managers.CheckText("request_id", requestID, managers.MaxRequestIDLen)
}

// requestID returns id, or, when it is empty, a req-<uuid> as nova's
// request ids: derived from the call (managers.CallID), so that every retry
// of one call records its outcome in the same instance action, or a new one
// outside a call.
func requestID(ctx context.Context, id string) string {
	switch call := managers.CallID(ctx); {
	case id != "":
		return id
	case call != "":
		return "req-" + uuid.NewSHA1(uuid.NameSpaceURL, []byte("novaflow-call:"+call)).String()
	default:
		return "req-" + uuid.NewString()
	}
}
