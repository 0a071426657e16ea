package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/servicegroup"
)

// Version is the service version of the scheduler manager.
const Version = 1

// Topic is the topic of scheduler services.
const Topic = "scheduler"

// ComputeTopic is the topic of the services the scheduler places instances on.
const ComputeTopic = "compute"

// NoValidHostType is the error type of a request no host can take (nova's
// NoValidHost).
const NoValidHostType = "NoValidHost"

func init() {
	managers.Register(managers.Definition{
		Name:    Topic,
		Topic:   Topic,
		Version: Version,
		// Any replica does the same work: its row may go with it
		// (NOVAFLOW_REMOVE_ON_STOP, for Kubernetes Deployments).
		Stateless: true,
		// Service version 1 serves RPC API 1.0.
		RPCVersions: map[int]string{1: "1.0"},
		// Its methods, for callers in any binary (their versions).
		Methods: func() []managers.Method { return (&Manager{}).RPCMethods() },
		// The instances, compute nodes and actions it shares with the
		// other services of the reference control plane.
		Schemas: []managers.Schema{{Name: store.SchemaName, Migrations: store.Migrations()}},
		Config:  &Settings{},
		New:     func(deps managers.Deps) (managers.Manager, error) { return New(deps) },
	})
}

var _ managers.Manager = (*Manager)(nil)

// Manager is the scheduler manager.
type Manager struct {
	cfg      Settings
	downTime func() time.Duration // the effective service_down_time now
	strategy Strategy
	logger   *slog.Logger
	services *servicegroup.Store
	store    *store.Store
}

// New returns the scheduler with the settings in deps.Config (a *Settings;
// the tags' defaults when nil: managers.ConfigOf). An unknown strategy
// fails, naming NOVAFLOW_SCHEDULER_STRATEGY and the registered ones.
func New(deps managers.Deps) (*Manager, error) {
	cfg, err := managers.ConfigOf[Settings](deps)
	if err != nil {
		return nil, fmt.Errorf("scheduler manager: %w", err)
	}
	if deps.DB == nil {
		return nil, errors.New("scheduler manager: no database")
	}
	if cfg.MaxAttempts < 1 {
		return nil, fmt.Errorf("NOVAFLOW_SCHEDULER_MAX_ATTEMPTS: must be at least 1, got %d", cfg.MaxAttempts)
	}
	strategy, err := LookupStrategy(cfg.Strategy)
	if err != nil {
		return nil, fmt.Errorf("NOVAFLOW_SCHEDULER_STRATEGY: %w", err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Manager{
		cfg:      cfg,
		downTime: deps.CurrentDownTime,
		strategy: strategy,
		logger:   logger,
		services: servicegroup.NewStore(deps.DB),
		store:    store.New(deps.DB),
	}, nil
}

// RPCMethods declares the scheduler API.
func (m *Manager) RPCMethods() []managers.Method {
	return []managers.Method{
		managers.NewMethod("select_destinations", "1.0", m.SelectDestinations),
	}
}

// PeriodicTasks declares none: the scheduler reads hosts from the database
// at each request.
func (m *Manager) PeriodicTasks() []managers.PeriodicTask { return nil }

// hostStates returns every compute node with its service and liveness.
func (m *Manager) hostStates(ctx context.Context) ([]HostState, error) {
	services, now, err := m.services.List(ctx, servicegroup.Filter{Topic: ComputeTopic})
	if err != nil {
		return nil, err
	}
	byHost := make(map[string]*servicegroup.Record, len(services))
	for i := range services {
		byHost[services[i].Host] = &services[i]
	}
	nodes, err := m.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	downTime := m.downTime()
	hosts := make([]HostState, 0, len(nodes))
	for _, n := range nodes {
		svc := byHost[n.Host]
		hosts = append(hosts, HostState{
			Host:    n.Host,
			Service: svc,
			Up:      svc != nil && servicegroup.IsUp(*svc, now, downTime),
			Node:    n,
			Free:    n.Free(),
		})
	}
	return hosts, nil
}
