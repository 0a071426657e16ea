package compute_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newPool returns a pool on a fresh, migrated database.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	def, err := managers.Lookup(computemgr.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Migrate(ctx, pool, def); err != nil {
		t.Fatal(err)
	}
	return pool
}

// keepOpen is a fake driver whose Close does nothing, so that a second
// manager can open the same driver, as a restarted service finds its
// instances again.
type keepOpen struct{ *fake.Driver }

func (keepOpen) Close() error { return nil }

var driverSeq atomic.Int64

// registerDriver registers d under a new name and returns the name.
func registerDriver(d compute.Driver) string {
	name := fmt.Sprintf("compute-test-%d", driverSeq.Add(1))
	compute.Register(name, func(compute.Config) (compute.Driver, error) { return d, nil })
	return name
}

// env is a compute manager on a fresh database with a fake driver.
type env struct {
	pool  *pgxpool.Pool
	store *store.Store
	fake  *fake.Driver
	mgr   *computemgr.Manager
	host  string
}

func newEnv(t *testing.T, opts map[string]string) *env {
	t.Helper()
	pool := newPool(t)
	d, err := fake.Open(compute.Config{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{pool: pool, store: store.New(pool), fake: d, host: "host-1"}
	e.mgr = e.manager(t, e.host)
	return e
}

// manager returns a compute manager of host on e's database and driver.
func (e *env) manager(t *testing.T, host string) *computemgr.Manager {
	t.Helper()
	cfg := managers.Defaults[computemgr.Settings]()
	cfg.Driver = registerDriver(keepOpen{e.fake})
	m, err := computemgr.New(managers.Deps{
		Host: host, Binary: "novaflow-compute", Topic: "compute", DB: e.pool,
		Logger: slog.New(slog.DiscardHandler), Config: &cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.PreStartHook(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return m
}

var tiny = compute.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, DiskGB: 1}

// create adds an instance row in building/scheduling and returns its UUID.
func (e *env) create(t *testing.T, f compute.Flavor) string {
	t.Helper()
	u := uuid.NewString()
	_, err := e.store.CreateInstances(context.Background(), "req-create-"+u, []store.NewInstance{{
		UUID: u, Name: "vm-" + u[:8], Flavor: f, Image: store.Image{Command: []string{"sleep", "3600"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// active creates an instance and builds it on e's host.
func (e *env) active(t *testing.T) string {
	t.Helper()
	u := e.create(t, tiny)
	if _, err := e.mgr.BuildAndRunInstance(context.Background(), computemgr.InstanceRequest{InstanceUUID: u}); err != nil {
		t.Fatalf("build: %v", err)
	}
	return u
}

func (e *env) get(t *testing.T, u string) store.Instance {
	t.Helper()
	i, err := e.store.Get(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// actions returns the instance's actions as "action:result" strings.
func (e *env) actions(t *testing.T, u string) []string {
	t.Helper()
	as, err := e.store.Actions(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Action+":"+a.Result)
	}
	return out
}

// call runs method name of m on a raw JSON request, as the activity does.
func call(t *testing.T, m managers.Manager, name, req string) ([]byte, error) {
	t.Helper()
	meth, ok := managers.MethodByName(m, name)
	if !ok {
		t.Fatalf("no method %s", name)
	}
	return meth.Call(context.Background(), []byte(req))
}

// errType is the type of a *managers.Error, or "" for other errors.
func errType(err error) string {
	if e, ok := managers.AsError(err); ok {
		return e.Type
	}
	if err != nil {
		return "untyped: " + err.Error()
	}
	return ""
}

func wantState(t *testing.T, i store.Instance, vm store.VMState, task store.TaskState, power compute.PowerState) {
	t.Helper()
	if i.VMState != vm || i.TaskState != task || i.PowerState != power {
		t.Fatalf("instance %s is %s/%q/%s, want %s/%q/%s", i.UUID, i.VMState, i.TaskState, i.PowerState, vm, task, power)
	}
}

var errBoom = errors.New("boom")

func managersError(err error) (*managers.Error, bool) { return managers.AsError(err) }
