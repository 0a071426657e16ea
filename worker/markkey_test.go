package worker

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/testenv"
)

// TestMarkKeysAfterRotation: the first start makes key 1 and later starts
// read it; once a rotation added key 2 and deleted key 1, a start makes no
// new key 1 (which would verify marks nobody chose to trust).
func TestMarkKeysAfterRotation(t *testing.T) {
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, nil, db.Core()); err != nil {
		t.Fatal(err)
	}
	ids := func() []int {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT id FROM mark_keys ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	var first []byte
	for range 2 {
		if _, err := loadMarkKeys(ctx, pool); err != nil {
			t.Fatal(err)
		}
		var k []byte
		if err := pool.QueryRow(ctx, `SELECT key FROM mark_keys WHERE id = 1`).Scan(&k); err != nil {
			t.Fatal(err)
		}
		if first != nil && string(first) != string(k) {
			t.Fatal("a second start replaced key 1")
		}
		first = k
	}
	if got := ids(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("keys after two starts: %v, want [1]", got)
	}
	// The rotation docs/security.md describes: add key 2, restart, delete 1.
	if _, err := pool.Exec(ctx, `INSERT INTO mark_keys (id, key) VALUES (2, $1)`, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM mark_keys WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := loadMarkKeys(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("keys after a start past the rotation: %v, want [2]", got)
	}
}
