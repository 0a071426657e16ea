package compute_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
)

// nodeWrites counts the rows written to compute_nodes, by a trigger that
// records every row INSERT and UPDATE (an upsert that updates counts as an
// UPDATE).
type nodeWrites struct{ pool *pgxpool.Pool }

func countNodeWrites(t *testing.T, pool *pgxpool.Pool) nodeWrites {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		CREATE TABLE test_node_writes (op text NOT NULL);
		CREATE FUNCTION test_count_node_write() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO test_node_writes VALUES (TG_OP);
			RETURN NULL;
		END $$;
		CREATE TRIGGER test_count_node_writes AFTER INSERT OR UPDATE ON compute_nodes
			FOR EACH ROW EXECUTE FUNCTION test_count_node_write();`)
	if err != nil {
		t.Fatal(err)
	}
	return nodeWrites{pool}
}

// take returns the inserts and updates counted since the last take.
func (w nodeWrites) take(t *testing.T) (inserts, updates int) {
	t.Helper()
	err := w.pool.QueryRow(context.Background(), `
		WITH d AS (DELETE FROM test_node_writes RETURNING op)
		SELECT count(*) FILTER (WHERE op = 'INSERT'), count(*) FILTER (WHERE op = 'UPDATE') FROM d`).Scan(&inserts, &updates)
	if err != nil {
		t.Fatal(err)
	}
	return inserts, updates
}

// rowVersion is the live node row's xmin (the transaction that wrote this
// version of it) and updated_at: an UPDATE of any kind changes the xmin.
func rowVersion(t *testing.T, pool *pgxpool.Pool, host string) (xmin string, updated time.Time) {
	t.Helper()
	err := pool.QueryRow(context.Background(),
		`SELECT xmin::text, updated_at FROM compute_nodes WHERE host = $1 AND NOT deleted`, host).Scan(&xmin, &updated)
	if err != nil {
		t.Fatal(err)
	}
	return xmin, updated
}

// TestIdleUpdateAvailableResourceWritesNothing: as nova's resource tracker
// saves the compute node only when its resources changed, consecutive runs
// of update_available_resource on an idle host write nothing to
// compute_nodes; a change of usage or capacity, or a missing row, is
// written, and a claim made by another service is kept.
func TestIdleUpdateAvailableResourceWritesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, map[string]string{"vcpus": "8", "memory_mb": "8192", "disk_gb": "80"})
	e.active(t)
	e.active(t)
	w := countNodeWrites(t, e.pool)
	run := func(m *computemgr.Manager) (inserts, updates int) {
		t.Helper()
		if err := m.UpdateAvailableResource(ctx); err != nil {
			t.Fatal(err)
		}
		return w.take(t)
	}
	wantNode := func(vcpus, vcpusUsed, memUsed int) {
		t.Helper()
		n, err := e.store.Node(ctx, e.host)
		if err != nil {
			t.Fatal(err)
		}
		if n.VCPUs != vcpus || n.VCPUsUsed != vcpusUsed || n.MemoryMBUsed != memUsed {
			t.Fatalf("node = %+v, want %d vcpus, %d used, %d MB used", n, vcpus, vcpusUsed, memUsed)
		}
	}

	// Idle: two runs in a row write nothing, not even updated_at.
	xmin, updated := rowVersion(t, e.pool, e.host)
	for i := range 2 {
		ins, upd := run(e.mgr)
		t.Logf("idle run %d: %d inserts, %d updates of compute_nodes", i+1, ins, upd)
		if ins != 0 || upd != 0 {
			t.Errorf("idle run %d wrote compute_nodes: %d inserts, %d updates; want none", i+1, ins, upd)
		}
	}
	if x, u := rowVersion(t, e.pool, e.host); x != xmin || !u.Equal(updated) {
		t.Errorf("idle runs rewrote the node row: xmin %s -> %s, updated_at %s -> %s", xmin, x, updated, u)
	}
	wantNode(8, 2, 1024)

	// A claim by the scheduler or conductor writes the usage itself; the
	// next run keeps it and has nothing to write.
	u := e.create(t, tiny)
	if _, err := e.store.Claim(ctx, u, e.host); err != nil {
		t.Fatal(err)
	}
	if ins, upd := w.take(t); ins != 0 || upd == 0 {
		t.Fatalf("claim wrote %d inserts, %d updates; want updates", ins, upd)
	}
	if ins, upd := run(e.mgr); ins != 0 || upd != 0 {
		t.Errorf("run after a claim wrote %d inserts, %d updates; want none", ins, upd)
	}
	wantNode(8, 3, 1536)

	// Usage that drifted from the instances is put right: one update.
	if _, err := e.pool.Exec(ctx, `UPDATE compute_nodes SET vcpus_used = 7 WHERE host = $1`, e.host); err != nil {
		t.Fatal(err)
	}
	w.take(t)
	if ins, upd := run(e.mgr); ins != 0 || upd != 1 {
		t.Errorf("run after drift wrote %d inserts, %d updates; want 1 update", ins, upd)
	}
	wantNode(8, 3, 1536)
	if ins, upd := run(e.mgr); ins != 0 || upd != 0 {
		t.Errorf("second run after drift wrote %d inserts, %d updates; want none", ins, upd)
	}

	// The host grew (a restart with a new capacity): one update, usage kept.
	bigger, err := fake.Open(compute.Config{Options: map[string]string{"vcpus": "16", "memory_mb": "8192", "disk_gb": "80"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := managers.Defaults[computemgr.Settings]()
	cfg.Driver = registerDriver(keepOpen{bigger})
	restarted, err := computemgr.New(managers.Deps{
		Host: e.host, Binary: "novaflow-compute", Topic: "compute", DB: e.pool,
		Logger: slog.New(slog.DiscardHandler), Config: &cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ins, upd := run(restarted); ins != 0 || upd != 1 {
		t.Errorf("run with a new capacity wrote %d inserts, %d updates; want 1 update", ins, upd)
	}
	wantNode(16, 3, 1536)
	if ins, upd := run(restarted); ins != 0 || upd != 0 {
		t.Errorf("second run with the new capacity wrote %d inserts, %d updates; want none", ins, upd)
	}

	// A deleted node row (soft or hard) is created again, with its usage.
	for _, del := range []string{
		`UPDATE compute_nodes SET deleted = true, deleted_at = now() WHERE host = $1 AND NOT deleted`,
		`DELETE FROM compute_nodes WHERE host = $1`,
	} {
		if _, err := e.pool.Exec(ctx, del, e.host); err != nil {
			t.Fatal(err)
		}
		w.take(t)
		if ins, upd := run(restarted); ins != 1 || upd != 0 {
			t.Errorf("run after %q wrote %d inserts, %d updates; want 1 insert", del, ins, upd)
		}
		wantNode(16, 3, 1536)
		if ins, upd := run(restarted); ins != 0 || upd != 0 {
			t.Errorf("second run after %q wrote %d inserts, %d updates; want none", del, ins, upd)
		}
	}
}

// TestPeriodicTaskDefaults: nova's defaults (update_resources_interval 0,
// the default spacing of 60s; sync_power_state_interval 600s;
// running_deleted_instance_poll_interval 1800s), and a negative interval
// disables its task instead of running it at the default spacing.
func TestPeriodicTaskDefaults(t *testing.T) {
	e := newEnv(t, nil)
	tasks := func(cfg computemgr.Settings) map[string]managers.PeriodicTask {
		t.Helper()
		cfg.Driver = registerDriver(keepOpen{e.fake})
		m, err := computemgr.New(managers.Deps{Host: e.host, DB: e.pool, Logger: slog.New(slog.DiscardHandler), Config: &cfg})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]managers.PeriodicTask{}
		for _, p := range m.PeriodicTasks() {
			out[p.Name] = p
		}
		return out
	}
	want := map[string]time.Duration{
		"update_available_resource": 60 * time.Second,
		"sync_power_states":         600 * time.Second,
		"reap_deleted_instances":    1800 * time.Second,
	}
	got := tasks(managers.Defaults[computemgr.Settings]())
	if len(got) != len(want) {
		t.Fatalf("periodic tasks = %v, want %v", got, want)
	}
	for name, d := range want {
		if p := got[name]; p.Disabled || p.Interval(0) != d {
			t.Errorf("%s: every %s (disabled %v), want every %s", name, p.Interval(0), p.Disabled, d)
		}
	}

	zero := managers.Defaults[computemgr.Settings]()
	zero.UpdateResourcesInterval, zero.SyncPowerStateInterval, zero.ReapDeletedInterval = 0, 0, 0
	for name, p := range tasks(zero) {
		if p.Disabled || p.Interval(0) != managers.DefaultSpacing {
			t.Errorf("%s with interval 0: every %s (disabled %v), want the default spacing", name, p.Interval(0), p.Disabled)
		}
	}

	off := managers.Defaults[computemgr.Settings]()
	off.UpdateResourcesInterval, off.SyncPowerStateInterval, off.ReapDeletedInterval = -1, -time.Second, -time.Hour
	for name, p := range tasks(off) {
		if !p.Disabled {
			t.Errorf("%s with a negative interval is not disabled (spacing %s)", name, p.Spacing)
		}
	}
}

// TestUpdateAvailableResourceKeepsConcurrentClaims: runs that write (the
// capacity keeps changing) while claims are made never overwrite a claim.
func TestUpdateAvailableResourceKeepsConcurrentClaims(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, map[string]string{"vcpus": "64", "memory_mb": "65536", "disk_gb": "1000"})
	var uuids []string
	for range 20 {
		uuids = append(uuids, e.create(t, tiny))
	}
	done := make(chan error)
	go func() {
		var err error
		for _, u := range uuids {
			if _, err = e.store.Claim(ctx, u, e.host); err != nil {
				break
			}
		}
		done <- err
	}()
	for i := 0; ; i++ {
		if _, err := e.store.UpdateNode(ctx, e.host, compute.Resources{VCPUs: 64 + i%2, MemoryMB: 65536, DiskGB: 1000}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			n, err := e.store.Node(ctx, e.host)
			if err != nil {
				t.Fatal(err)
			}
			if n.VCPUsUsed != len(uuids) || n.MemoryMBUsed != len(uuids)*tiny.MemoryMB || n.DiskGBUsed != len(uuids)*tiny.DiskGB {
				t.Fatalf("node = %+v after %d claims, want their usage", n, len(uuids))
			}
			return
		default:
		}
	}
}
