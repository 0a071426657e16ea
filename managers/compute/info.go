package compute

import (
	"context"
	"errors"
	"fmt"

	"github.com/novaflow/novaflow/drivers/compute"
)

// GetInstanceInfo returns the instance's row and, when it is on this host,
// what the driver reports about it.
func (m *Manager) GetInstanceInfo(ctx context.Context, req InfoRequest) (InstanceInfo, error) {
	inst, err := m.load(ctx, "get", req.InstanceUUID)
	if err != nil {
		return InstanceInfo{}, err
	}
	out := InstanceInfo{Instance: inst}
	if inst.Host != m.host {
		return out, nil
	}
	info, err := m.driver.Info(ctx, inst.UUID)
	switch {
	case err == nil:
		out.Driver = driverInfo(info)
	case !errors.Is(err, compute.ErrNotFound):
		return InstanceInfo{}, fmt.Errorf("get instance %s: %w", inst.UUID, err)
	}
	return out, nil
}
