package volume

import (
	"context"
	"fmt"
)

// ReportUsage records what the driver holds on this host in volume_usage:
// the number of volumes, their provisioned size, the room they take, and
// the host's capacity (the periodic task report_usage, also run before the
// service takes work).
func (m *Manager) ReportUsage(ctx context.Context) error {
	vols, err := m.driver.List(ctx)
	if err != nil {
		return fmt.Errorf("report usage: %w", err)
	}
	capacity, err := m.driver.Capacity(ctx)
	if err != nil {
		return fmt.Errorf("report usage: %w", err)
	}
	u := Usage{Host: m.host, Volumes: len(vols), CapacityBytes: capacity.TotalBytes, FreeBytes: capacity.FreeBytes}
	for _, v := range vols {
		u.ProvisionedGB += int64(v.SizeGB)
		u.AllocatedBytes += v.AllocatedBytes
	}
	if err := m.store.putUsage(ctx, u); err != nil {
		return fmt.Errorf("report usage: %w", err)
	}
	m.logger.DebugContext(ctx, "volume usage", "volumes", u.Volumes, "provisioned_gb", u.ProvisionedGB,
		"allocated_bytes", u.AllocatedBytes, "capacity_bytes", u.CapacityBytes, "free_bytes", u.FreeBytes)
	return nil
}
