package compute

import (
	"context"

	"github.com/novaflow/novaflow/managers"
)

var _ managers.Router = (*Manager)(nil)

// Route finds the host of the instance a call names, so that
// `compute.stop_instance` with only {"instance_uuid": ...} reaches the host
// the instance runs on, as nova's compute API reads instance.host. A deleted
// instance routes to its last host (terminate is idempotent there); one that
// was never scheduled has no host to go to, but its terminate_instance, which
// any host may run, goes to the host that answers.
func (m *Manager) Route(ctx context.Context, method, instanceUUID string) (string, error) {
	if err := validateUUID(instanceUUID); err != nil {
		return "", err
	}
	inst, err := m.store.Get(ctx, instanceUUID)
	if err != nil {
		return "", storeError("route "+method+" of", instanceUUID, err)
	}
	if inst.Host == "" && method == "terminate_instance" {
		// Never scheduled (a build that found no host) or its claim
		// released: any compute service may delete it, so this one, which
		// runs the look-up and so is up, does (nova's API deletes such an
		// instance itself, having no host to ask).
		return m.host, nil
	}
	if inst.Host == "" {
		return "", managers.Conflict("instance %s has no host yet (vm_state %s): it was never scheduled", instanceUUID, inst.VMState)
	}
	return inst.Host, nil
}
