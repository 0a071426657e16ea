package volume

import (
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/drivers/volume"
	"github.com/novaflow/novaflow/managers"
)

// invalidArgument turns a driver's *volume.InvalidError into an
// InvalidArgument naming the request's field; other errors pass unchanged.
func invalidArgument(err error) error {
	var ie *volume.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	field := ie.Field
	if field == "id" {
		field = "volume_id"
	}
	return managers.InvalidArgument(field, "%s", ie.Reason)
}

// driverError turns a driver's error into a typed error where retrying the
// same request cannot help, and wraps it otherwise (retried).
func driverError(verb, id string, err error) error {
	switch {
	case errors.Is(err, volume.ErrInvalid):
		return invalidArgument(err)
	case errors.Is(err, volume.ErrBusy):
		return managers.Conflict("cannot %s volume %s: %v", verb, id, err)
	case errors.Is(err, volume.ErrExists):
		return managers.Conflict("cannot %s volume %s: the volume driver has another volume of that ID: %v", verb, id, err)
	case errors.Is(err, volume.ErrNotFound):
		return managers.Conflict("cannot %s volume %s: the volume driver does not have it", verb, id)
	default:
		return fmt.Errorf("%s volume %s: %w", verb, id, err)
	}
}

// statusError is the error of an operation that the volume's status forbids.
func statusError(verb string, v Volume) error {
	if v.attached() {
		return managers.Conflict("cannot %s volume %s: it is %s, attached to instance %s on host %s; detach it first (compute.detach_volume)",
			verb, v.ID, v.Status, v.InstanceUUID, orNone(v.InstanceHost))
	}
	return managers.Conflict("cannot %s volume %s: it is %s", verb, v.ID, v.Status)
}

// notOnHost is the error of an operation sent to a host the volume is not on.
func notOnHost(verb string, v Volume, host string) error {
	return managers.Conflict("cannot %s volume %s on host %s: it is on host %s (call volume.%s_volume without \"host\", or with \"host\": %q)",
		verb, v.ID, host, v.Host, verb, v.Host)
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
