package compute

import (
	"errors"
	"fmt"
	"strings"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// storeError turns the store's errors into typed errors of the RPC API.
func storeError(verb, uuid string, err error) error {
	var ce *store.ConflictError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return managers.NotFound("instance", uuid)
	case errors.As(err, &ce):
		return ce.Typed(fmt.Sprintf("cannot %s %s", verb, ce.Error()))
	default:
		return fmt.Errorf("%s instance %s: %w", verb, uuid, err)
	}
}

// driverError turns a driver's error into a typed error where retrying the
// same request cannot help, and wraps it otherwise.
func driverError(verb, uuid string, err error) error {
	var ie *compute.InvalidError
	switch {
	case errors.As(err, &ie):
		return managers.InvalidArgument(requestField(ie.Field), "%s", ie.Reason)
	case errors.Is(err, compute.ErrNotFound):
		return managers.Conflict("cannot %s instance %s: the compute driver does not have it (a HARD reboot recreates it)", verb, uuid)
	default:
		return fmt.Errorf("%s instance %s: %w", verb, uuid, err)
	}
}

// requestField names, in the API's terms, the field of a driver's
// InvalidError: command and env belong to the image.
func requestField(field string) string {
	switch {
	case field == "uuid":
		return "instance_uuid"
	case strings.HasPrefix(field, "command"), strings.HasPrefix(field, "env"):
		return "image." + field
	default:
		return field
	}
}

// notOnHost is the error of an operation sent to a host the instance is not on.
func notOnHost(verb string, inst store.Instance, host string) error {
	if inst.Host == "" {
		return managers.Conflict("cannot %s instance %s: it is not on any host (vm_state %s)", verb, inst.UUID, inst.VMState)
	}
	return managers.Conflict("cannot %s instance %s: it is on host %s, not %s (call compute.%s)", verb, inst.UUID, inst.Host, host, inst.Host)
}
