// Package managertest builds a registered manager for a test as the runtime
// builds it, on a PostgreSQL database of the test's own that holds its
// tables, without Temporal:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestCreateRecord(t *testing.T) {
//		m, _ := managertest.New[*dns.Manager](t, "dns",
//			managertest.WithSettings(func(s *dns.Settings) { s.Driver = "memory" }))
//		out, err := managertest.Call(t, m, "create_record", `{"name": "www", "address": "192.0.2.1"}`)
//		...
//	}
//
// The database comes from package testenv: a fresh one per test on a
// PostgreSQL server the test binary starts (or NOVAFLOW_DATABASE_URL's), with
// novaflow's schema and the manager's Definition.Migrations applied.
package managertest

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/internal/envconf"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// DefaultHost is the host a manager is built for unless WithHost says.
const DefaultHost = "host-1"

// Option changes how New builds a manager.
type Option func(*options)

type options struct {
	host     string
	db       *pgxpool.Pool
	settings []func(t testing.TB, cfg any)
	deps     []func(*managers.Deps)
}

// WithHost builds the manager for host.
func WithHost(host string) Option { return func(o *options) { o.host = host } }

// WithDB builds the manager on pool instead of a fresh database, so that
// managers of several hosts, or topics, share one (see Database).
func WithDB(pool *pgxpool.Pool) Option { return func(o *options) { o.db = pool } }

// WithSettings changes the manager's settings after their defaults are
// applied; S is the type Definition.Config points to.
func WithSettings[S any](edit func(*S)) Option {
	return func(o *options) {
		o.settings = append(o.settings, func(t testing.TB, cfg any) {
			t.Helper()
			s, ok := cfg.(*S)
			if !ok {
				t.Fatalf("managertest: WithSettings of %T, but the manager's settings are %T", (*S)(nil), cfg)
			}
			edit(s)
		})
	}
}

// WithDeps changes what the manager's New is handed, last: for a Temporal
// client (Deps.Temporal) or other settings of its own.
func WithDeps(edit func(*managers.Deps)) Option {
	return func(o *options) { o.deps = append(o.deps, edit) }
}

// New builds the manager registered as name, as a service would: on a
// fresh database with its tables (see Database) unless WithDB gives one,
// for DefaultHost unless WithHost says, with its settings (Definition.Config)
// at the defaults of their `default:"..."` tags, changed by WithSettings,
// and a logger that writes to the test's output. It fails the test when the
// manager cannot be built or has a hook of the wrong signature
// (managers.CheckHooks), and calls its CleanupHost when the test ends.
// M is the manager's type as its New returns it (*volume.Manager). It
// returns the database too.
func New[M managers.Manager](t testing.TB, name string, opts ...Option) (M, *pgxpool.Pool) {
	t.Helper()
	var zero M
	o := options{host: DefaultHost}
	for _, opt := range opts {
		opt(&o)
	}
	def, err := managers.Lookup(name)
	if err != nil {
		t.Fatalf("managertest: %v", err)
	}
	if o.db == nil {
		o.db = Database(t, name)
	}
	var cfg any
	if def.Config != nil {
		cfg = reflect.New(reflect.TypeOf(def.Config).Elem()).Interface()
		if err := envconf.Defaults(cfg); err != nil {
			t.Fatalf("managertest: manager %s: %v", name, err)
		}
		for _, edit := range o.settings {
			edit(t, cfg)
		}
	} else if len(o.settings) > 0 {
		t.Fatalf("managertest: WithSettings, but manager %s has no settings (Definition.Config)", name)
	}
	deps := managers.Deps{
		Host: o.host, Binary: worker.BinaryPrefix + def.Topic, Topic: def.Topic, DB: o.db,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)).With("host", o.host, "topic", def.Topic),
		Config: cfg,
	}
	for _, edit := range o.deps {
		edit(&deps)
	}
	mgr, err := def.New(deps)
	if err != nil {
		t.Fatalf("managertest: manager %s: %v", name, err)
	}
	if c, ok := mgr.(managers.CleanupHoster); ok {
		t.Cleanup(func() {
			if err := c.CleanupHost(t.Context()); err != nil {
				t.Errorf("managertest: manager %s: cleanup host: %v", name, err)
			}
		})
	}
	if err := managers.CheckHooks(mgr); err != nil {
		t.Fatalf("managertest: %v", err)
	}
	m, ok := mgr.(M)
	if !ok {
		t.Fatalf("managertest: manager %s is a %T, not a %T", name, mgr, zero)
	}
	return m, o.db
}

// Database returns a pool on a fresh database of the test (testenv.Postgres)
// with novaflow's schema and the migrations of the managers registered as
// names applied, as their services apply them at start. It is closed when
// the test ends.
func Database(t testing.TB, names ...string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), testenv.Postgres(t))
	if err != nil {
		t.Fatalf("managertest: %v", err)
	}
	t.Cleanup(pool.Close)
	var defs []managers.Definition
	for _, name := range names {
		def, err := managers.Lookup(name)
		if err != nil {
			t.Fatalf("managertest: %v", err)
		}
		defs = append(defs, def)
	}
	if err := worker.Migrate(t.Context(), pool, defs...); err != nil {
		t.Fatalf("managertest: %v", err)
	}
	return pool
}

// Call runs the RPC method name of m on a raw JSON request, as the
// runtime's activity does, and returns its JSON result. A method m does not
// have fails the test, listing the ones it has.
func Call(t testing.TB, m managers.Manager, name, request string) (string, error) {
	t.Helper()
	meth, ok := managers.MethodByName(m, name)
	if !ok {
		var names []string
		for _, meth := range m.RPCMethods() {
			names = append(names, meth.Name)
		}
		t.Fatalf("managertest: %T has no RPC method %q; it has: %s", m, name, strings.Join(names, ", "))
	}
	out, err := meth.Call(t.Context(), []byte(request))
	return string(out), err
}
