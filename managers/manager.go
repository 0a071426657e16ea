package managers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/servicegroup"
)

// Manager is what a service hosts: the RPC methods other services may call
// and the periodic tasks its service runs (either list may be empty).
//
// Everything else a manager may do is an optional interface of one method,
// found by type assertion as database/sql finds a driver's optional
// capabilities: the lifecycle hooks InitHoster, PreStartHooker,
// PostStartHooker, CleanupHoster and Resetter, and Router and
// WorkflowProvider. Assert at compile time the ones a manager implements, so
// that a hook with the wrong signature fails to build instead of never being
// called:
//
//	var (
//		_ managers.Manager        = (*Manager)(nil)
//		_ managers.PreStartHooker = (*Manager)(nil)
//	)
//
// The runtime also refuses, at start, a manager with a method named like a
// hook whose signature is not the hook's (CheckHooks).
type Manager interface {
	// RPCMethods lists the methods other services may call.
	RPCMethods() []Method
	// PeriodicTasks lists the manager's periodic tasks.
	PeriodicTasks() []PeriodicTask
}

// InitHoster is implemented by a manager that looks at its host first when
// its service starts (nova's init_host).
type InitHoster interface {
	// InitHost runs first, before the service record is created or updated;
	// rec is the existing record or nil on the first start of this service.
	InitHost(ctx context.Context, rec *servicegroup.Record) error
}

// PreStartHooker is implemented by a manager with work to do once its
// service's record exists and before work can arrive (nova's
// pre_start_hook).
type PreStartHooker interface {
	// PreStartHook runs after the record exists, before RPC consumers start.
	PreStartHook(ctx context.Context, rec *servicegroup.Record) error
}

// PostStartHooker is implemented by a manager with work to do once its
// service takes work (nova's post_start_hook).
type PostStartHooker interface {
	// PostStartHook runs after RPC consumers started.
	PostStartHook(ctx context.Context) error
}

// CleanupHoster is implemented by a manager that releases what it holds
// when its service stops (nova's cleanup_host).
type CleanupHoster interface {
	// CleanupHost runs when the service stops, after in-flight work finished.
	CleanupHost(ctx context.Context) error
}

// Resetter is implemented by a manager that re-reads its dynamic
// configuration on SIGHUP (nova's reset).
type Resetter interface {
	// Reset re-reads dynamic configuration; the service keeps running.
	Reset(ctx context.Context) error
}

// hooks are the optional interfaces of a manager, by their one method's name.
var hooks = []struct {
	method string
	iface  reflect.Type
}{
	{"InitHost", reflect.TypeFor[InitHoster]()},
	{"PreStartHook", reflect.TypeFor[PreStartHooker]()},
	{"PostStartHook", reflect.TypeFor[PostStartHooker]()},
	{"CleanupHost", reflect.TypeFor[CleanupHoster]()},
	{"Reset", reflect.TypeFor[Resetter]()},
	{"Route", reflect.TypeFor[Router]()},
	{"Workflows", reflect.TypeFor[WorkflowProvider]()},
	{"Owner", reflect.TypeFor[Owner]()},
}

// CheckHooks fails when m has a method named like one of the optional
// interfaces (InitHost, PreStartHook, ..., Route, Workflows) that does not
// implement it: a wrong signature, or a pointer receiver on a manager given
// as a value. Such a method would never be called. The runtime runs it on
// every manager it builds.
func CheckHooks(m Manager) error {
	t := reflect.TypeOf(m)
	var errs []error
	for _, h := range hooks {
		if t.Implements(h.iface) {
			continue
		}
		want := h.iface.Method(0).Type
		if got, ok := t.MethodByName(h.method); ok {
			// got.Type has the receiver as its first parameter.
			errs = append(errs, fmt.Errorf("manager %s: method %s is %s, want %s to implement managers.%s",
				t, h.method, signature(got.Type, 1), signature(want, 0), h.iface.Name()))
			continue
		}
		if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(h.iface) {
			errs = append(errs, fmt.Errorf("manager %s: method %s has a pointer receiver, so it is never called on a %s value: return a *%s",
				t, h.method, t, t))
		}
	}
	return errors.Join(errs...)
}

// signature is a func type as Go source writes it, without its first skip
// parameters.
func signature(t reflect.Type, skip int) string {
	var in, out []string
	for i := skip; i < t.NumIn(); i++ {
		in = append(in, t.In(i).String())
	}
	for i := range t.NumOut() {
		out = append(out, t.Out(i).String())
	}
	s := "func(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		s += " " + out[0]
	default:
		s += " (" + strings.Join(out, ", ") + ")"
	}
	return s
}

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
	// StateDir is the service's state directory, where a manager keeps its
	// files unless a setting of its own says otherwise: $STATE_DIRECTORY
	// under systemd (StateDirectory=), else /var/lib/novaflow/<topic> for
	// `novaflow run`, the dev stack's data dir for `novaflow dev`; "" when
	// the manager is built without the runtime (a test), or the caller of
	// worker.Create gave none.
	StateDir string
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

// Ownership is who owns an object: its project and the user that made it.
type Ownership struct {
	ProjectID string
	UserID    string
}

// Owner is implemented by a manager whose objects belong to projects, as
// nova's instances do: when authorization is on (package auth), the rule of
// a method with an Object is decided on the owner Owner returns
// (%(project_id)s, %(user_id)s in a rule), never on what the request says.
// An object that does not exist is a NotFound *Error. Owner runs before the
// method, on the service that runs it, so it must answer from shared state.
type Owner interface {
	Owner(ctx context.Context, method, object string) (Ownership, error)
}
