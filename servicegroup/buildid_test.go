package servicegroup_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// registerV4 is Store.Register's statement in the releases before
// services.build_id (core schema version 4), as an old service still running
// beside a migrated database sends it.
const registerV4 = `
	INSERT INTO services (host, "binary", topic, version, last_seen_up)
	VALUES ($1, $2, $3, $4, now())
	ON CONFLICT (host, "binary") WHERE NOT deleted
	DO UPDATE SET topic = EXCLUDED.topic, version = EXCLUDED.version, last_seen_up = now(), updated_at = now()`

// coreUpTo is the core schema's migrations up to version v.
func coreUpTo(t *testing.T, v int) db.Schema {
	t.Helper()
	core := db.Core()
	old := fstest.MapFS{}
	err := fs.WalkDir(core.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if n, _ := strconv.Atoi(path[:5]); n > v {
			return nil
		}
		b, err := fs.ReadFile(core.FS, path)
		old[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil || len(old) != v {
		t.Fatalf("core migrations up to %d: %d files, %v", v, len(old), err)
	}
	return db.Schema{Name: core.Name, FS: old}
}

// TestBuildID: services.build_id is added to a live table whose rows, and
// an old release's Register beside the new one, keep working; a service's
// Register writes its build ID (NULL for none), Report and a status report
// that recreate a deleted row keep it, and List reads it.
func TestBuildID(t *testing.T) {
	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := servicegroup.NewStore(pool)

	// The old release's database, with its services running.
	if err := db.Migrate(ctx, pool, nil, coreUpTo(t, 4)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"old", "new"} {
		if _, err := pool.Exec(ctx, registerV4, h, "novaflow-x", "x", 1); err != nil {
			t.Fatal(err)
		}
	}
	// The new release migrates while they run.
	if err := db.Migrate(ctx, pool, nil, db.Core()); err != nil {
		t.Fatalf("migrate a live table: %v", err)
	}
	if r := get(t, s, "old", "novaflow-x"); r.BuildID != "" {
		t.Errorf("a row from before the migration has build ID %q, want none", r.BuildID)
	}
	// One host restarts on the new release, the other on the old one.
	if r, err := s.Register(ctx, "new", "novaflow-x", "x", 1, "r2"); err != nil || r.BuildID != "r2" {
		t.Fatalf("Register with build r2: %+v, %v", r, err)
	}
	if _, err := pool.Exec(ctx, registerV4, "old", "novaflow-x", "x", 1); err != nil {
		t.Fatalf("the old release's Register on the migrated table: %v", err)
	}
	recs, _, err := s.List(ctx, servicegroup.Filter{Binary: "novaflow-x"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs {
		got[r.Host] = r.BuildID
	}
	if len(got) != 2 || got["new"] != "r2" || got["old"] != "" {
		t.Errorf("List's build IDs %v, want new=r2 and old none", got)
	}
	// A build without a build ID clears it; the column holds NULL, not ''.
	if r, err := s.Register(ctx, "new", "novaflow-x", "x", 1, ""); err != nil || r.BuildID != "" {
		t.Fatalf("Register without a build ID: %+v, %v", r, err)
	}
	var nulls int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM services WHERE build_id IS NULL AND NOT deleted`).Scan(&nulls); err != nil || nulls != 2 {
		t.Errorf("rows with build_id NULL: %d, %v; want 2", nulls, err)
	}

	// Report recreates a deleted row with the build ID it is given.
	if _, err := s.Delete(ctx, "new", "novaflow-x"); err != nil {
		t.Fatal(err)
	}
	if r, recreated, err := s.Report(ctx, "new", "novaflow-x", "x", 1, "r3"); err != nil || !recreated || r.BuildID != "r3" {
		t.Fatalf("Report of a deleted service: %+v recreated=%t, %v; want its row back with build r3", r, recreated, err)
	}
	// A status report that sees a deleted service alive recreates its row
	// with its last row's build ID.
	if _, err := s.Delete(ctx, "new", "novaflow-x"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Observe(ctx, servicegroup.Observation{Topic: "x", Source: servicegroup.SourceHeartbeats, DownTime: time.Minute,
		Seen: []servicegroup.Sighting{{Host: "new", Binary: "novaflow-x", Heartbeat: time.Now()}}})
	if err != nil || strings.Join(res.Recreated, ",") != "novaflow-x@new" {
		t.Fatalf("Observe: %+v, %v; want novaflow-x@new recreated", res, err)
	}
	if r := get(t, s, "new", "novaflow-x"); r.BuildID != "r3" {
		t.Errorf("the row a status report recreated has build ID %q, want r3 (its last row's)", r.BuildID)
	}
}
