package volume

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/novaflow/novaflow/drivers/volume"
	"github.com/novaflow/novaflow/keylock"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/registry"
	"github.com/novaflow/novaflow/servicegroup"
)

// Topic is the topic of volume services.
const Topic = "volume"

// Version is the service version of the volume manager.
const Version = 1

//go:embed migrations/*.sql
var migrations embed.FS

func init() {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	managers.Register(managers.Definition{
		Name:    Topic,
		Topic:   Topic,
		Version: Version,
		// Service version 1 serves RPC API 1.0.
		RPCVersions: map[int]string{1: "1.0"},
		// Its methods, for callers in any binary (their versions).
		Methods:    func() []managers.Method { return (&Manager{}).RPCMethods() },
		Config:     &Settings{},
		Migrations: sub,
		New:        func(deps managers.Deps) (managers.Manager, error) { return New(deps) },
	})
}

var (
	_ managers.Manager        = (*Manager)(nil)
	_ managers.PreStartHooker = (*Manager)(nil)
	_ managers.CleanupHoster  = (*Manager)(nil)
	_ managers.Router         = (*Manager)(nil)
	_ managers.Owner          = (*Manager)(nil)
)

// Manager is the volume manager of one host.
type Manager struct {
	host   string
	cfg    Settings
	logger *slog.Logger
	driver volume.Driver
	store  store
	locks  keylock.Locks
}

// New opens the volume driver named by the settings in deps.Config (a
// *Settings; the tags' defaults when nil: managers.ConfigOf) and returns the
// manager of deps.Host. An unknown driver name fails, naming
// NOVAFLOW_VOLUME_DRIVER and the registered drivers.
func New(deps managers.Deps) (*Manager, error) {
	cfg, err := managers.ConfigOf[Settings](deps)
	if err != nil {
		return nil, fmt.Errorf("volume manager: %w", err)
	}
	if deps.DB == nil {
		return nil, errors.New("volume manager: no database")
	}
	d, err := volume.Open(cfg.Driver, volume.Config{
		Host:    deps.Host,
		DataDir: cfg.dataDir(deps),
		Options: cfg.DriverOptions,
	})
	switch {
	case errors.Is(err, registry.ErrUnknown):
		return nil, fmt.Errorf("NOVAFLOW_VOLUME_DRIVER: %w", err)
	case err != nil: // the driver refused its options or its data dir
		return nil, fmt.Errorf("NOVAFLOW_VOLUME_DRIVER_OPTIONS or NOVAFLOW_VOLUME_DATA_DIR: %w", err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{host: deps.Host, cfg: cfg, logger: logger, driver: d, store: store{db: deps.DB}}, nil
}

// Driver returns the manager's volume driver (tests reach the fake's
// failure injection through it).
func (m *Manager) Driver() volume.Driver { return m.driver }

// PreStartHook records the host's usage before work can arrive.
func (m *Manager) PreStartHook(ctx context.Context, _ *servicegroup.Record) error {
	return m.ReportUsage(ctx)
}

// CleanupHost closes the driver; the volumes stay.
func (m *Manager) CleanupHost(context.Context) error {
	if err := m.driver.Close(); err != nil {
		return fmt.Errorf("close volume driver: %w", err)
	}
	return nil
}

// RPCMethods declares the volume API.
func (m *Manager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("create_volume", "1.0", m.CreateVolume),
		managers.NewMethod("delete_volume", "1.0", m.DeleteVolume).WithObject("volume_id"),
		managers.NewMethod("attach_volume", "1.0", m.AttachVolume).WithObject("volume_id"),
		managers.NewMethod("detach_volume", "1.0", m.DetachVolume).WithObject("volume_id"),
		managers.NewMethod("list_volumes", "1.0", m.ListVolumes).WithAccess(managers.AccessRead),
	}
}

// PeriodicTasks declares report_usage.
func (m *Manager) PeriodicTasks() []managers.PeriodicTask {
	return []managers.PeriodicTask{{
		Name:     "report_usage",
		Spacing:  m.cfg.UsageInterval,
		Disabled: m.cfg.UsageInterval < 0,
		Run:      m.ReportUsage,
	}}
}

// Route finds the host of the volume a call names, so that
// `volume.delete_volume` with only {"volume_id": ...} runs where the
// volume's data is. It answers from the volumes table, which every volume
// service shares.
func (m *Manager) Route(ctx context.Context, method, volumeID string) (string, error) {
	if err := validateUUID("volume_id", volumeID); err != nil {
		return "", err
	}
	v, err := m.store.get(ctx, volumeID)
	if errors.Is(err, errNoRow) {
		return "", managers.NotFound("volume", volumeID)
	}
	if err != nil {
		return "", fmt.Errorf("route %s of volume %s: %w", method, volumeID, err)
	}
	return v.Host, nil
}
