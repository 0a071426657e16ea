package worker

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/auth"
)

// loadMarkKeys reads the keys of the framework runs' marks (table
// mark_keys, core migration 6), making the first one, random, when there
// is none at all: the first service to start makes it and the others read
// it (an insert that does nothing when another made it first). A table
// that holds keys gets none: after a rotation that deleted key 1, a
// service's start must not bring back a key 1 nobody chose. The key with the
// highest id signs; all verify (auth.MarkKeys).
func loadMarkKeys(ctx context.Context, pool *pgxpool.Pool) (*auth.MarkKeys, error) {
	key := make([]byte, auth.MinMarkKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("mark key: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO mark_keys (id, key) SELECT 1, $1 WHERE NOT EXISTS (SELECT FROM mark_keys) ON CONFLICT DO NOTHING`, key); err != nil {
		return nil, fmt.Errorf("mark key: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT key FROM mark_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("mark keys: %w", err)
	}
	var keys [][]byte
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, fmt.Errorf("mark keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mark keys: %w", err)
	}
	return auth.NewMarkKeys(keys...)
}
