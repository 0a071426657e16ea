package compute

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/keylock"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/registry"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
)

// Version is the service version of the compute manager.
const Version = 1

// Topic is the topic of compute services.
const Topic = "compute"

// next is what the next release changes in the compute manager: nil in
// novaflow's builds; set by next.go, which only the build tag novaflow_next
// compiles in (the newer variant of the reference control plane that the
// mixed-version test in faults/ runs beside this one).
var next interface {
	define(*managers.Definition)
	methods(*Manager, []managers.Method) []managers.Method
}

func init() {
	def := managers.Definition{
		Name:    Topic,
		Topic:   Topic,
		Version: Version,
		// Service version 1 serves RPC API 1.0.
		RPCVersions: map[int]string{1: "1.0"},
		// Its methods, for callers in any binary (their versions).
		Methods: func() []managers.Method { return (&Manager{}).RPCMethods() },
		// The instances, compute nodes and actions it shares with the
		// other services of the reference control plane.
		Schemas: []managers.Schema{{Name: store.SchemaName, Migrations: store.Migrations()}},
		// Its own: block_device_mappings.
		Migrations: ownMigrations(),
		Config:     &Settings{},
		New:        func(deps managers.Deps) (managers.Manager, error) { return New(deps) },
	}
	if next != nil {
		next.define(&def)
	}
	managers.Register(def)
}

var (
	_ managers.Manager        = (*Manager)(nil)
	_ managers.InitHoster     = (*Manager)(nil)
	_ managers.PreStartHooker = (*Manager)(nil)
	_ managers.CleanupHoster  = (*Manager)(nil)
	_ managers.Resetter       = (*Manager)(nil)
	_ managers.Owner          = (*Manager)(nil)
)

// Manager is the compute manager of one host.
type Manager struct {
	host     string
	cfg      Settings
	stateDir string // the driver's (Settings.stateDir)
	logger   *slog.Logger
	driver   compute.Driver
	store    *store.Store
	locks    keylock.Locks
	rpc      *rpc.Client // calls to other services (volume); nil without the runtime
}

// New opens the compute driver named by the settings in deps.Config (a
// *Settings; the tags' defaults when nil: managers.ConfigOf) and returns the
// manager of deps.Host. An unknown driver name fails, naming
// NOVAFLOW_COMPUTE_DRIVER and the registered drivers.
func New(deps managers.Deps) (*Manager, error) {
	cfg, err := managers.ConfigOf[Settings](deps)
	if err != nil {
		return nil, fmt.Errorf("compute manager: %w", err)
	}
	if deps.DB == nil {
		return nil, errors.New("compute manager: no database")
	}
	if cfg.Driver == "" {
		// nova's compute refuses to start without compute_driver: a host
		// that builds nothing but says it did is worse than no host.
		return nil, fmt.Errorf("NOVAFLOW_COMPUTE_DRIVER: not set: name the compute driver of this host (%s)", strings.Join(compute.Drivers(), ", "))
	}
	var client *rpc.Client
	if deps.Temporal != nil {
		c, err := rpc.ForManager(deps)
		if err != nil {
			return nil, fmt.Errorf("compute manager: %w", err)
		}
		client = c
	}
	stateDir := cfg.stateDir(deps)
	d, err := compute.Open(cfg.Driver, compute.Config{
		Host:                  deps.Host,
		StateDir:              stateDir,
		Options:               cfg.DriverOptions,
		AllowRelativeCommands: cfg.AllowRelativeCommands,
	})
	switch {
	case errors.Is(err, registry.ErrUnknown):
		return nil, fmt.Errorf("NOVAFLOW_COMPUTE_DRIVER: %w", err)
	case err != nil: // the driver refused its options or its state dir
		return nil, fmt.Errorf("NOVAFLOW_COMPUTE_DRIVER_OPTIONS or NOVAFLOW_COMPUTE_STATE_DIR: %w", err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{
		host:     deps.Host,
		cfg:      cfg,
		stateDir: stateDir,
		logger:   logger,
		driver:   traceDriver(cfg.Driver, d), // a span per driver call
		store:    store.New(deps.DB),
		rpc:      client,
	}, nil
}

// Driver returns the manager's compute driver (tests reach the fake's
// failure injection through it).
func (m *Manager) Driver() compute.Driver { return untracedDriver(m.driver) }

// Host returns the host the manager runs instances on.
func (m *Manager) Host() string { return m.host }

// InitHost reconciles the database with what the driver reports, as after a
// restart of the service (nova's init_host).
func (m *Manager) InitHost(ctx context.Context, _ *servicegroup.Record) error {
	if err := m.reconcile(ctx); err != nil {
		return fmt.Errorf("reconcile instances of host %s: %w", m.host, err)
	}
	return nil
}

// PreStartHook records the host's resources before work can arrive.
func (m *Manager) PreStartHook(ctx context.Context, _ *servicegroup.Record) error {
	return m.UpdateAvailableResource(ctx)
}

// CleanupHost closes the driver; instances keep running when the driver can
// outlive the service (process).
func (m *Manager) CleanupHost(context.Context) error {
	if err := m.driver.Close(); err != nil {
		return fmt.Errorf("close compute driver: %w", err)
	}
	return nil
}

// RPCMethods declares the compute API.
func (m *Manager) RPCMethods() []managers.Method {
	methods := []managers.Method{
		managers.NewMethod("build_and_run_instance", "1.0", m.BuildAndRunInstance).WithObject("instance_uuid"),
		managers.NewMethod("stop_instance", "1.0", m.StopInstance).WithObject("instance_uuid"),
		managers.NewMethod("start_instance", "1.0", m.StartInstance).WithObject("instance_uuid"),
		managers.NewMethod("reboot_instance", "1.0", m.RebootInstance).WithObject("instance_uuid"),
		managers.NewMethod("terminate_instance", "1.0", m.TerminateInstance).WithObject("instance_uuid"),
		managers.NewMethod("get_instance_info", "1.0", m.GetInstanceInfo).WithObject("instance_uuid").WithAccess(managers.AccessRead),
		managers.NewMethod("attach_volume", "1.0", m.AttachVolume).WithObject("instance_uuid"),
		managers.NewMethod("detach_volume", "1.0", m.DetachVolume).WithObject("instance_uuid"),
	}
	if next != nil {
		methods = next.methods(m, methods)
	}
	return methods
}

// PeriodicTasks declares the compute periodic tasks. An interval of 0 runs
// a task at the default spacing (managers.DefaultSpacing); a negative one
// disables it.
func (m *Manager) PeriodicTasks() []managers.PeriodicTask {
	return []managers.PeriodicTask{
		{
			Name:     "update_available_resource",
			Spacing:  m.cfg.UpdateResourcesInterval,
			Disabled: m.cfg.UpdateResourcesInterval < 0,
			Run:      m.UpdateAvailableResource,
		},
		{
			Name:     "sync_power_states",
			Spacing:  m.cfg.SyncPowerStateInterval,
			Disabled: m.cfg.SyncPowerStateInterval < 0,
			Run:      m.SyncPowerStates,
		},
		{
			Name:     "reap_deleted_instances",
			Spacing:  m.cfg.ReapDeletedInterval,
			Disabled: m.cfg.ReapDeletedInterval < 0,
			Run:      m.ReapDeletedInstances,
		},
	}
}

// UpdateAvailableResource records the host's capacity, as the driver
// reports it, and the usage of the instances claimed on it in compute_nodes.
// As nova's resource tracker, it writes the row only when something in it
// changed: on an idle host a run is one read and no write. A node row that
// is missing (first start, or deleted) is created again.
func (m *Manager) UpdateAvailableResource(ctx context.Context) error {
	res, err := m.driver.Resources(ctx)
	if err != nil {
		return fmt.Errorf("update available resource: %w", err)
	}
	n, written, err := m.store.RefreshNode(ctx, m.host, res)
	if err != nil {
		return fmt.Errorf("update available resource: %w", err)
	}
	if written {
		m.logger.DebugContext(ctx, "compute node updated", "vcpus", n.VCPUs, "vcpus_used", n.VCPUsUsed,
			"memory_mb", n.MemoryMB, "memory_mb_used", n.MemoryMBUsed, "disk_gb", n.DiskGB, "disk_gb_used", n.DiskGBUsed)
	}
	return nil
}

// Reset forgets the "auto" upgrade levels its RPC client read (SIGHUP), so
// that its next call to another service reads them again.
func (m *Manager) Reset(context.Context) error {
	if m.rpc != nil {
		m.rpc.ResetUpgradeLevels()
	}
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// ownMigrations are compute's own tables (block_device_mappings).
func ownMigrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return sub
}

// Owner says who owns the instance a method names (managers.Owner), for the
// authorization policy's %(project_id)s.
func (m *Manager) Owner(ctx context.Context, method, object string) (managers.Ownership, error) {
	return m.store.Owner(ctx, object)
}
