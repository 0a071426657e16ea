package managers

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/servicegroup"
)

// Manager is what a service hosts. Embed Base to get no-op hooks and declare only
// what the manager needs.
type Manager interface {
	// InitHost runs first, before the service record is created or updated;
	// rec is the existing record or nil on the first start of this service.
	InitHost(ctx context.Context, rec *servicegroup.Record) error
	// PreStartHook runs after the record exists, before RPC consumers start.
	PreStartHook(ctx context.Context, rec *servicegroup.Record) error
	// PostStartHook runs after RPC consumers started.
	PostStartHook(ctx context.Context) error
	// CleanupHost runs when the service stops, after in-flight work finished.
	CleanupHost(ctx context.Context) error
	// Reset re-reads dynamic configuration (SIGHUP); the service keeps running.
	Reset(ctx context.Context) error
	// RPCMethods lists the methods other services may call.
	RPCMethods() []Method
	// PeriodicTasks lists the manager's periodic tasks.
	PeriodicTasks() []PeriodicTask
}

// Base implements every Manager method as a no-op; embed it.
type Base struct{}

// InitHost does nothing.
func (Base) InitHost(context.Context, *servicegroup.Record) error { return nil }

// PreStartHook does nothing.
func (Base) PreStartHook(context.Context, *servicegroup.Record) error { return nil }

// PostStartHook does nothing.
func (Base) PostStartHook(context.Context) error { return nil }

// CleanupHost does nothing.
func (Base) CleanupHost(context.Context) error { return nil }

// Reset does nothing.
func (Base) Reset(context.Context) error { return nil }

// RPCMethods declares no method.
func (Base) RPCMethods() []Method { return nil }

// PeriodicTasks declares no task.
func (Base) PeriodicTasks() []PeriodicTask { return nil }

// Deps is what the runtime hands a manager's constructor.
type Deps struct {
	// Host is the host the service runs on (NOVAFLOW_HOST or the hostname).
	Host string
	// Binary is the service's binary name, nova's service_name (novaflow-compute).
	Binary string
	// Topic is the service's topic (compute).
	Topic string
	// DB is the shared PostgreSQL pool; its schema is current.
	DB *pgxpool.Pool
	// Logger carries the service, host and topic on every line.
	Logger *slog.Logger
	// Config is the manager's settings: a pointer of the same type as
	// Definition.Config, filled from the environment; nil when it has none.
	// ConfigOf reads it, with the tags' defaults when it is nil.
	Config any
	// DownTime, when set, returns the effective service_down_time now
	// (NOVAFLOW_SERVICE_DOWN_TIME, raised to 2.5 x NOVAFLOW_REPORT_INTERVAL:
	// servicegroup.DownTime), which follows SIGHUP. A manager that judges
	// services up or down reads it through CurrentDownTime at each judgement.
	DownTime func() time.Duration
	// Temporal is the process's Temporal client, for calls to other
	// services: build an RPC client with rpc.ForManager(deps). nil when the
	// manager is built without the runtime, as in a unit test.
	Temporal client.Client
	// RPC is the process's settings for those calls.
	RPC RPCSettings
}

// RPCSettings are the settings of the calls a manager makes to other
// services, as the runtime read them at start (rpc.ForManager applies them).
type RPCSettings struct {
	// Timeouts, when set, returns the current response and cast timeouts;
	// the client reads it at each call, so that a service's SIGHUP
	// (Service.Reset) changes them for calls made from then on. A zero
	// value returned falls back to the field below.
	Timeouts func() (response, cast time.Duration)
	// ResponseTimeout is how long a call waits for its result
	// (NOVAFLOW_RPC_RESPONSE_TIMEOUT); 0 means rpc.DefaultResponseTimeout.
	ResponseTimeout time.Duration
	// CastTimeout is how long a cast waits for its target
	// (NOVAFLOW_CAST_TIMEOUT); 0 means rpc.DefaultCastTimeout.
	CastTimeout time.Duration
	// UpgradeLevels caps, per topic, the version of what is sent: a
	// "major.minor" or "auto" (NOVAFLOW_UPGRADE_LEVELS_<TOPIC>). A topic
	// without an entry has no cap.
	UpgradeLevels map[string]string
	// CurrentUpgradeLevels, when set, returns UpgradeLevels as they are
	// now (after a SIGHUP); the client reads it at each call.
	CurrentUpgradeLevels func() map[string]string
}

// Workflow is a workflow that a manager's service runs besides the ones that
// call its RPC methods, such as the conductor's build with reschedule. Its
// code must be deterministic and live in package workflows or the user's own.
type Workflow struct {
	// Name is its workflow type, <topic>.<name> by convention
	// (conductor.build_instances).
	Name string
	// Func is the workflow function.
	Func any
}

// WorkflowProvider is implemented by a manager whose service runs workflows
// of its own: the runtime registers them on both of the service's task
// queues, so they can be started with `temporal workflow start --task-queue
// <topic> --type <name>`.
type WorkflowProvider interface {
	Workflows() []Workflow
}

// Router is implemented by a manager whose methods act on objects that live
// on one host, such as compute's instances: a call that names no "host" but
// carries the method's Object (Method.WithObject) is sent to the host Route
// returns, as nova's compute API looks up instance.host. Route runs on any
// service of the topic, so it must answer from shared state (the database).
type Router interface {
	Route(ctx context.Context, method, object string) (host string, err error)
}
