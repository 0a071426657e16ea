package volume_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/managers"
	volumemgr "github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/policy"
)

// TestOwnership: a volume records the project and user of the credentials
// that created it (none without); Owner reports them; list_volumes shows a
// caller its project's volumes, an admin and a call without credentials
// (authorization off) every volume, a token without a project none.
func TestOwnership(t *testing.T) {
	pool := newDB(t)
	m, _ := newManager(t, pool, "host-1")
	ctx := t.Context()
	alice := policy.Credentials{UserID: "alice", ProjectID: "a", Roles: []string{"member"}}
	bob := policy.Credentials{UserID: "bob", ProjectID: "b", Roles: []string{"member"}}
	root := policy.Credentials{UserID: "root", ProjectID: "ops", Roles: []string{"admin"}, Admin: true}
	create := func(c *policy.Credentials) string {
		t.Helper()
		cctx := ctx
		if c != nil {
			cctx = policy.WithCredentials(ctx, *c)
		}
		id := uuid.NewString()
		if _, err := m.CreateVolume(cctx, volumemgr.CreateRequest{VolumeID: id, SizeGB: 1}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	va, vb, vnone := create(&alice), create(&bob), create(nil)

	for id, want := range map[string]managers.Ownership{va: {ProjectID: "a", UserID: "alice"}, vb: {ProjectID: "b", UserID: "bob"}, vnone: {}} {
		got, err := m.Owner(ctx, "delete_volume", id)
		if err != nil || got != want {
			t.Errorf("Owner(%s) = %+v, %v; want %+v", id, got, err, want)
		}
	}
	if _, err := m.Owner(ctx, "delete_volume", uuid.NewString()); !isNotFound(err) {
		t.Errorf("Owner of an unknown volume: %v, want NotFound", err)
	}
	// The lookup compares the id column (its primary key), not its text:
	// an upper-case UUID names the same volume; a malformed one none.
	if got, err := m.Owner(ctx, "delete_volume", strings.ToUpper(va)); err != nil || got != (managers.Ownership{ProjectID: "a", UserID: "alice"}) {
		t.Errorf("Owner(%s) = %+v, %v; want project a, user alice", strings.ToUpper(va), got, err)
	}
	wantIndexScan(t, pool, volumemgr.OwnerQuery, va)
	for _, bad := range []string{"", "x", va + "0", "{" + va + "}"} {
		if _, err := m.Owner(ctx, "delete_volume", bad); !isNotFound(err) {
			t.Errorf("Owner(%q): %v, want NotFound", bad, err)
		}
	}

	list := func(c *policy.Credentials) []string {
		t.Helper()
		cctx := ctx
		if c != nil {
			cctx = policy.WithCredentials(ctx, *c)
		}
		res, err := m.ListVolumes(cctx, volumemgr.ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range res.Volumes {
			ids = append(ids, v.ID)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for name, tc := range map[string]struct {
		creds *policy.Credentials
		want  []string
	}{
		"alice":        {&alice, sorted(va)},
		"bob":          {&bob, sorted(vb)},
		"admin":        {&root, sorted(va, vb, vnone)},
		"no auth":      {nil, sorted(va, vb, vnone)},
		"no project":   {&policy.Credentials{UserID: "x", Roles: []string{"reader"}}, nil},
		"project none": {&policy.Credentials{UserID: "y", ProjectID: "c", Roles: []string{"member"}}, nil},
	} {
		if got := list(tc.creds); !slices.Equal(got, tc.want) {
			t.Errorf("%s lists %v, want %v", name, got, tc.want)
		}
	}
}

func isNotFound(err error) bool {
	e, ok := managers.AsError(err)
	return ok && e.Type == managers.NotFoundType
}

// TestCreateVolumeOtherProject: create_volume with the ID of another
// project's volume is a bare Conflict: it neither returns that volume nor
// names its name, size, host or status. The creator's own repeat still
// finds its volume.
func TestCreateVolumeOtherProject(t *testing.T) {
	m, _ := newManager(t, newDB(t), "host-1")
	alice := policy.WithCredentials(t.Context(), policy.Credentials{UserID: "alice", ProjectID: "a", Roles: []string{"member"}})
	bob := policy.WithCredentials(t.Context(), policy.Credentials{UserID: "bob", ProjectID: "b", Roles: []string{"member"}})
	live, gone := uuid.NewString(), uuid.NewString()
	for _, id := range []string{live, gone} {
		if _, err := m.CreateVolume(alice, volumemgr.CreateRequest{VolumeID: id, Name: "payroll-db", SizeGB: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.DeleteVolume(alice, volumemgr.DeleteRequest{VolumeID: gone}); err != nil {
		t.Fatal(err)
	}
	if v, err := m.CreateVolume(alice, volumemgr.CreateRequest{VolumeID: live, Name: "payroll-db", SizeGB: 3}); err != nil || v.ID != live {
		t.Fatalf("alice's repeated create = %+v, %v; want her volume", v, err)
	}
	for _, tc := range []struct {
		id   string
		name string
		size int
	}{{live, "payroll-db", 3}, {live, "x", 1}, {gone, "payroll-db", 3}, {gone, "x", 1}} {
		v, err := m.CreateVolume(bob, volumemgr.CreateRequest{VolumeID: tc.id, Name: tc.name, SizeGB: tc.size})
		if v.ID != "" || v.Name != "" || v.ProjectID != "" {
			t.Errorf("bob's create of %s (%s, %d GiB) returned alice's volume %+v", tc.id, tc.name, tc.size, v)
		}
		e := wantType(t, err, managers.ConflictType, "")
		for _, secret := range []string{"payroll", "3 GiB", "host-1", "deleted", "status", "alice"} {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("bob's create of %s (%s, %d GiB): %q reveals %q", tc.id, tc.name, tc.size, e.Error(), secret)
			}
		}
	}
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
