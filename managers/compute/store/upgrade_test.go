package store_test

import (
	"context"
	"embed"
	"io/fs"
	"testing"

	"github.com/google/uuid"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"

	// The managers that use the tables, with their Definition.Schemas.
	_ "github.com/novaflow/novaflow/managers/compute"
	_ "github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/scheduler"
)

// oldCore is novaflow's core schema as it was while it held the compute
// tables (versions 1 to 4, 2 and 3 creating them).
//
//go:embed testdata/core-v4/*.sql
var oldCore embed.FS

func definitions(t *testing.T, names ...string) []managers.Definition {
	t.Helper()
	var defs []managers.Definition
	for _, n := range names {
		def, err := managers.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, def)
	}
	return defs
}

// TestUpgradeFromCoreComputeTables: a database made while the compute
// tables were versions 2 and 3 of the core schema upgrades to the layout
// where they are schema compute_store and compute's own migrations: nothing
// is recreated, the rows stay, and every schema is current.
func TestUpgradeFromCoreComputeTables(t *testing.T) {
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	old, err := fs.Sub(oldCore, "testdata/core-v4")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, pool, nil, db.Schema{Name: "novaflow", FS: old}); err != nil {
		t.Fatalf("old core schema: %v", err)
	}
	inst := uuid.NewString()
	vol := uuid.NewString()
	for _, q := range []string{
		`INSERT INTO compute_nodes (host, vcpus, memory_mb, disk_gb, vcpus_used) VALUES ('h1', 8, 4096, 100, 1)`,
		`INSERT INTO instances (uuid, name, host, vm_state, vcpus, memory_mb, disk_gb, image_command)
		 VALUES ('` + inst + `', 'web', 'h1', 'active', 1, 64, 1, '{sleep,3600}')`,
		`INSERT INTO instance_actions (request_id, action, instance_uuid, host, result) VALUES ('r1', 'create', '` + inst + `', '', 'Success')`,
		`INSERT INTO block_device_mappings (instance_uuid, volume_id) VALUES ('` + inst + `', '` + vol + `')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// The conductor may start first; then the compute services.
	if err := worker.Migrate(ctx, pool, definitions(t, "conductor")...); err != nil {
		t.Fatalf("new layout, conductor: %v", err)
	}
	all := definitions(t, "compute", "scheduler", "conductor")
	if err := worker.Migrate(ctx, pool, all...); err != nil {
		t.Fatalf("new layout: %v", err)
	}
	if err := db.CheckCurrent(ctx, pool, toDB(worker.Schemas(all...))...); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int64{"goose_novaflow": 6, "goose_" + store.SchemaName: 2, "goose_compute": 1} {
		var got int64
		if err := pool.QueryRow(ctx, `SELECT max(version_id) FROM `+table).Scan(&got); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if got != want {
			t.Errorf("%s is at version %d, want %d", table, got, want)
		}
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM compute_nodes WHERE host = 'h1' AND vcpus_used = 1`:     1,
		`SELECT count(*) FROM instances WHERE uuid = '` + inst + `' AND name = 'web'`: 1,
		`SELECT count(*) FROM instance_actions WHERE request_id = 'r1'`:               1,
		`SELECT count(*) FROM block_device_mappings WHERE volume_id = '` + vol + `'`:  1,
	} {
		var got int
		if err := pool.QueryRow(ctx, q).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", q, got, err, want)
		}
	}
	got, err := store.New(pool).Get(ctx, inst)
	if err != nil || got.Host != "h1" || got.VMState != store.Active {
		t.Errorf("Get after the upgrade = %+v, %v", got, err)
	}
}

// TestConductorFirstOnFreshDatabase: a conductor that starts before any
// compute service on a fresh database creates the tables it shares with
// them.
func TestConductorFirstOnFreshDatabase(t *testing.T) {
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := worker.Migrate(ctx, pool, definitions(t, "conductor")...); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"compute_nodes", "instances", "instance_actions"} {
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s: exists %v, %v", table, ok, err)
		}
	}
	if err := worker.Migrate(ctx, pool, definitions(t, "compute")...); err != nil {
		t.Fatalf("compute after the conductor: %v", err)
	}
}

func toDB(schemas []managers.Schema) []db.Schema {
	out := make([]db.Schema, len(schemas))
	for i, s := range schemas {
		out[i] = db.Schema{Name: s.Name, FS: s.Migrations}
	}
	return out
}
