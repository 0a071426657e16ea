package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/managers/compute/store"
)

// TestOwnership: instances keep the project and user they were created
// for (none when authorization is off); Owner reports them, List filters by
// project.
func TestOwnership(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	s := store.New(pool)
	f := compute.Flavor{VCPUs: 1, MemoryMB: 64, DiskGB: 1}
	a, b, none := uuid.NewString(), uuid.NewString(), uuid.NewString()
	img := store.Image{Command: []string{"true"}}
	if _, err := s.CreateInstances(ctx, "req-1", []store.NewInstance{
		{UUID: a, Flavor: f, Image: img, ProjectID: "pa", UserID: "alice"},
		{UUID: b, Flavor: f, Image: img, ProjectID: "pb", UserID: "bob"},
		{UUID: none, Flavor: f, Image: img},
	}); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]managers.Ownership{a: {ProjectID: "pa", UserID: "alice"}, b: {ProjectID: "pb", UserID: "bob"}, none: {}} {
		got, err := s.Owner(ctx, u)
		if err != nil || got != want {
			t.Errorf("Owner(%s) = %+v, %v; want %+v", u, got, err, want)
		}
		inst, err := s.Get(ctx, u)
		if err != nil || inst.ProjectID != want.ProjectID || inst.UserID != want.UserID {
			t.Errorf("Get(%s) owner %q/%q, %v; want %+v", u, inst.ProjectID, inst.UserID, err, want)
		}
	}
	if _, err := s.Owner(ctx, uuid.NewString()); !managersIsNotFound(err) {
		t.Errorf("Owner of an unknown instance: %v, want NotFound", err)
	}
	// The lookup compares the uuid column (its index), not its text: an
	// upper-case UUID names the same instance; a malformed one none.
	if got, err := s.Owner(ctx, strings.ToUpper(a)); err != nil || got != (managers.Ownership{ProjectID: "pa", UserID: "alice"}) {
		t.Errorf("Owner(%s) = %+v, %v; want project pa, user alice", strings.ToUpper(a), got, err)
	}
	wantIndexScan(t, pool, store.OwnerQuery, a)
	for _, bad := range []string{"", "x", a + "0", "{" + a + "}", "urn:uuid:" + a} {
		if _, err := s.Owner(ctx, bad); !managersIsNotFound(err) {
			t.Errorf("Owner(%q): %v, want NotFound", bad, err)
		}
	}
	got, err := s.List(ctx, store.Filter{ProjectID: "pa"})
	if err != nil || len(got) != 1 || got[0].UUID != a {
		t.Errorf("List(project pa) = %+v, %v; want only %s", got, err, a)
	}
	all, err := s.List(ctx, store.Filter{})
	if err != nil || len(all) != 3 {
		t.Errorf("List() = %d instances, %v; want 3", len(all), err)
	}
}

func managersIsNotFound(err error) bool {
	e, ok := managers.AsError(err)
	return ok && e.Type == managers.NotFoundType
}

// wantIndexScan fails unless PostgreSQL plans query (with arg) as an index
// scan: with sequential scans off, a statement that cannot use an index
// still gets one.
func wantIndexScan(t *testing.T, pool *pgxpool.Pool, query string, arg any) {
	t.Helper()
	var plan []string
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(t.Context(), `EXPLAIN `+query, arg)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "\n"); !strings.Contains(p, "Index") || strings.Contains(p, "Seq Scan") {
		t.Errorf("%s\nis planned as\n%s\nwant an index scan", query, p)
	}
}
