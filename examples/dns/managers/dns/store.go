package dns

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errNoRow is returned by store methods when no record matches.
var errNoRow = errors.New("no such record")

// store reads and writes dns.records.
type store struct{ db *pgxpool.Pool }

const columns = `id::text, name, type, value, ttl, created_at, deleted_at`

func scan(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.Name, &r.Type, &r.Value, &r.TTL, &r.CreatedAt, &r.DeletedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, errNoRow
	}
	return r, err
}

// insert adds the record; ok is false when its ID or its name, type and
// value are taken (by this request's earlier run, or another record).
func (s store) insert(ctx context.Context, r CreateRequest) (rec Record, ok bool, err error) {
	rec, err = scan(s.db.QueryRow(ctx, `
		INSERT INTO dns.records (id, name, type, value, ttl) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING RETURNING `+columns, r.RecordID, r.Name, r.Type, r.Value, r.TTL))
	if errors.Is(err, errNoRow) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("insert record %s: %w", r.RecordID, err)
	}
	return rec, true, nil
}

// get returns the record of id, deleted or not.
func (s store) get(ctx context.Context, id string) (Record, error) {
	r, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM dns.records WHERE id = $1`, id))
	if err != nil && !errors.Is(err, errNoRow) {
		return Record{}, fmt.Errorf("read record %s: %w", id, err)
	}
	return r, err
}

// live returns the live record of name, type and value.
func (s store) live(ctx context.Context, name, typ, value string) (Record, error) {
	r, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM dns.records
		WHERE name = $1 AND type = $2 AND value = $3 AND deleted_at IS NULL`, name, typ, value))
	if err != nil && !errors.Is(err, errNoRow) {
		return Record{}, fmt.Errorf("read record %s %s %s: %w", name, typ, value, err)
	}
	return r, err
}

// delete marks the record of id deleted, if it is not already.
func (s store) delete(ctx context.Context, id string) (Record, error) {
	r, err := scan(s.db.QueryRow(ctx, `UPDATE dns.records SET deleted_at = coalesce(deleted_at, now())
		WHERE id = $1 RETURNING `+columns, id))
	if err != nil && !errors.Is(err, errNoRow) {
		return Record{}, fmt.Errorf("delete record %s: %w", id, err)
	}
	return r, err
}

// list returns the live records, of name only unless it is "".
func (s store) list(ctx context.Context, name string) ([]Record, error) {
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM dns.records
		WHERE deleted_at IS NULL AND ($1 = '' OR name = $1)
		ORDER BY name COLLATE "C", type, value COLLATE "C"`, name)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}
