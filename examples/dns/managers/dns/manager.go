// Package dns is the manager of the example dns service (topic "dns"): it
// keeps DNS records in its table, dns.records, and has each host's DNS
// backend (a driver of kind examples/dns/drivers/dns) serve them. A record
// is created or deleted on any dns host, which updates its own backend at
// once; the periodic task sync_records brings every host's backend to the
// table. docs/writing-a-service.md quotes it.
package dns

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/novaflow/novaflow/examples/dns/drivers/dns"
	"github.com/novaflow/novaflow/keylock"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/registry"
	"github.com/novaflow/novaflow/servicegroup"
)

// Topic is the topic of dns services.
const Topic = "dns"

//go:embed migrations/*.sql
var migrations embed.FS

func init() {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	managers.Register(managers.Definition{
		Name:        Topic,
		Topic:       Topic,
		Version:     1,
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
)

// Manager is the dns manager of one host.
type Manager struct {
	cfg    Settings
	logger *slog.Logger
	driver dns.Driver
	store  store
	locks  keylock.Locks // by record name
}

// New opens the DNS driver that the settings name.
func New(deps managers.Deps) (*Manager, error) {
	cfg, err := managers.ConfigOf[Settings](deps)
	if err != nil {
		return nil, fmt.Errorf("dns manager: %w", err)
	}
	if deps.DB == nil {
		return nil, errors.New("dns manager: no database")
	}
	d, err := dns.Open(cfg.Driver, dns.Config{Host: deps.Host, Options: cfg.DriverOptions})
	switch {
	case errors.Is(err, registry.ErrUnknown):
		return nil, fmt.Errorf("NOVAFLOW_DNS_DRIVER: %w", err)
	case err != nil:
		return nil, fmt.Errorf("NOVAFLOW_DNS_DRIVER_OPTIONS: %w", err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{cfg: cfg, logger: logger, driver: d, store: store{db: deps.DB}}, nil
}

// Driver returns the manager's DNS driver.
func (m *Manager) Driver() dns.Driver { return m.driver }

// RPCMethods declares the dns API.
func (m *Manager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("create_record", "1.0", m.CreateRecord).WithObject("record_id"),
		managers.NewMethod("delete_record", "1.0", m.DeleteRecord).WithObject("record_id"),
		managers.NewMethod("list_records", "1.0", m.ListRecords),
	}
}

// PeriodicTasks declares sync_records.
func (m *Manager) PeriodicTasks() []managers.PeriodicTask {
	return []managers.PeriodicTask{{
		Name:     "sync_records",
		Spacing:  m.cfg.SyncInterval,
		Disabled: m.cfg.SyncInterval < 0,
		Run:      m.SyncRecords,
	}}
}

// PreStartHook syncs the backend before work can arrive: a backend that
// lost its records (the fake, restarted) serves them again.
func (m *Manager) PreStartHook(ctx context.Context, _ *servicegroup.Record) error {
	return m.SyncRecords(ctx)
}

// CleanupHost closes the driver; the backend keeps its records.
func (m *Manager) CleanupHost(context.Context) error { return m.driver.Close() }
