package servicegroup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store reads and writes the services table.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const columns = `id, uuid::text, host, "binary", topic, report_count, disabled, coalesce(disabled_reason, ''),
	forced_down, last_seen_up, version, created_at, updated_at, deleted_at, deleted, heartbeat_at, coalesce(build_id, '')`

func (r *Record) fields() []any {
	return []any{&r.ID, &r.UUID, &r.Host, &r.Binary, &r.Topic, &r.ReportCount, &r.Disabled, &r.DisabledReason,
		&r.ForcedDown, &r.LastSeenUp, &r.Version, &r.CreatedAt, &r.UpdatedAt, &r.DeletedAt, &r.Deleted, &r.HeartbeatAt, &r.BuildID}
}

func scan(row pgx.Row) (*Record, error) {
	var r Record
	err := row.Scan(r.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Get returns the live row of (host, binary), or ErrNotFound.
func (s *Store) Get(ctx context.Context, host, binary string) (*Record, error) {
	r, err := scan(s.pool.QueryRow(ctx,
		`SELECT `+columns+` FROM services WHERE host = $1 AND "binary" = $2 AND NOT deleted`, host, binary))
	if err != nil {
		return nil, fmt.Errorf("get service %s on %s: %w", binary, host, err)
	}
	return r, nil
}

// Register creates the row of (host, binary) or, when it exists, updates its
// topic, version and build ID, as a service does at start, and sets
// last_seen_up to now: a service is up as soon as it has started (nova waits
// for its first report, about 5 s later), and a restarted one is up again at
// once. buildID is the build the service runs (worker.Config.BuildIDOfBinary;
// "" for none, stored as NULL). It refuses with *TooOldError when the live,
// not forced-down services of the binary, this one's own row included (nova's
// ServiceTooOld), have a minimum version above version. A concurrent Register
// of the same service is safe: the upsert is one statement.
func (s *Store) Register(ctx context.Context, host, binary, topic string, version int, buildID string) (*Record, error) {
	minVersion, err := s.MinVersion(ctx, binary)
	if err != nil {
		return nil, fmt.Errorf("register service %s on %s: %w", binary, host, err)
	}
	if minVersion > version {
		return nil, &TooOldError{Binary: binary, Version: version, MinVersion: minVersion}
	}
	r, err := scan(s.pool.QueryRow(ctx, `
		INSERT INTO services (host, "binary", topic, version, build_id, last_seen_up)
		VALUES ($1, $2, $3, $4, nullif($5, ''), now())
		ON CONFLICT (host, "binary") WHERE NOT deleted
		DO UPDATE SET topic = EXCLUDED.topic, version = EXCLUDED.version, build_id = EXCLUDED.build_id,
			last_seen_up = now(), updated_at = now()
		RETURNING `+columns, host, binary, topic, version, buildID))
	if err != nil {
		return nil, fmt.Errorf("register service %s on %s: %w", binary, host, err)
	}
	return r, nil
}

// Report is one status report of one service, as nova's: report_count += 1
// and last_seen_up = now. When the row was deleted, Report creates it again
// and says so, with version and buildID as Register writes them. novaflow's
// own reports are per topic (Observe); Report is for a service that is not a
// Temporal worker, and for tests.
func (s *Store) Report(ctx context.Context, host, binary, topic string, version int, buildID string) (r *Record, recreated bool, err error) {
	r, err = scan(s.pool.QueryRow(ctx, `
		UPDATE services SET report_count = report_count + 1, last_seen_up = now(), updated_at = now()
		WHERE host = $1 AND "binary" = $2 AND NOT deleted
		RETURNING `+columns, host, binary))
	if err == nil {
		return r, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, false, fmt.Errorf("report service %s on %s: %w", binary, host, err)
	}
	r, err = scan(s.pool.QueryRow(ctx, `
		INSERT INTO services (host, "binary", topic, version, build_id, report_count, last_seen_up)
		VALUES ($1, $2, $3, $4, nullif($5, ''), 1, now())
		ON CONFLICT (host, "binary") WHERE NOT deleted
		DO UPDATE SET report_count = services.report_count + 1, last_seen_up = now(), updated_at = now()
		RETURNING `+columns, host, binary, topic, version, buildID))
	if err != nil {
		return nil, false, fmt.Errorf("recreate service %s on %s: %w", binary, host, err)
	}
	return r, true, nil
}

// MinVersion is the minimum service version of the binary over live, not
// forced-down rows, or 0 when there are none (nova's get_minimum_version).
func (s *Store) MinVersion(ctx context.Context, binary string) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(min(version), 0) FROM services
		WHERE "binary" = $1 AND NOT deleted AND NOT forced_down`, binary).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("minimum version of %s: %w", binary, err)
	}
	return v, nil
}

// MinTopicVersion is the minimum service version of the services of topic,
// whatever their binary is named, over live, not forced-down rows, or 0 when
// there are none: what "auto" upgrade levels of the topic follow.
func (s *Store) MinTopicVersion(ctx context.Context, topic string) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(min(version), 0) FROM services
		WHERE topic = $1 AND NOT deleted AND NOT forced_down`, topic).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("minimum version of topic %s: %w", topic, err)
	}
	return v, nil
}

// Filter narrows List; empty fields match everything.
type Filter struct {
	Host   string
	Binary string
	Topic  string
}

// List returns the live rows that match f, ordered by topic then host, each
// with the state of its topic's status report, and the database's current
// time to judge them with IsUp and Status.
func (s *Store) List(ctx context.Context, f Filter) ([]Record, time.Time, error) {
	var where []string
	var args []any
	add := func(col, v string) {
		if v != "" {
			args = append(args, v)
			where = append(where, fmt.Sprintf("%s = $%d", col, len(args)))
		}
	}
	add("host", f.Host)
	add(`"binary"`, f.Binary)
	add("topic", f.Topic)
	q := `SELECT ` + columns + `, now(), o.observed_at, o.observing_since, o.last_before_gap, o.source, o.seen
		FROM services LEFT JOIN service_observers o USING (topic) WHERE NOT deleted`
	if len(where) > 0 {
		q += " AND " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY topic, host`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	var out []Record
	var now time.Time
	for rows.Next() {
		var r Record
		var observedAt, since *time.Time
		var o Observer
		var source *string
		var seen *int
		if err := rows.Scan(append(r.fields(), &now, &observedAt, &since, &o.LastBeforeGap, &source, &seen)...); err != nil {
			return nil, time.Time{}, fmt.Errorf("list services: %w", err)
		}
		if observedAt != nil {
			o.ObservedAt, o.ObservingSince, o.Source, o.Seen = *observedAt, *since, *source, *seen
			r.Observer = &o
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("list services: %w", err)
	}
	if len(out) == 0 {
		if err := s.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			return nil, time.Time{}, fmt.Errorf("list services: %w", err)
		}
	}
	return out, now, nil
}

// Up returns the live rows of topic that are enabled (or, with
// includeDisabled, any) and up by IsUp with downTime: the hosts that may be
// given new work (scheduler, fanout), or that run periodic tasks.
func (s *Store) Up(ctx context.Context, topic string, downTime time.Duration, includeDisabled bool) ([]Record, error) {
	all, now, err := s.List(ctx, Filter{Topic: topic})
	if err != nil {
		return nil, err
	}
	up := all[:0]
	for _, r := range all {
		if (includeDisabled || !r.Disabled) && IsUp(r, now, downTime) {
			up = append(up, r)
		}
	}
	return up, nil
}

func (s *Store) update(ctx context.Context, what, host, binary, set string, args ...any) (*Record, error) {
	args = append([]any{host, binary}, args...)
	r, err := scan(s.pool.QueryRow(ctx, `UPDATE services SET `+set+`, updated_at = now()
		WHERE host = $1 AND "binary" = $2 AND NOT deleted RETURNING `+columns, args...))
	if err != nil {
		return nil, fmt.Errorf("%s service %s on %s: %w", what, binary, host, err)
	}
	return r, nil
}

// SetDisabled disables (with a reason) or enables a service. A disabled service
// keeps reporting but is given no new work.
func (s *Store) SetDisabled(ctx context.Context, host, binary string, disabled bool, reason string) (*Record, error) {
	what := "enable"
	if disabled {
		what = "disable"
	} else {
		reason = ""
	}
	return s.update(ctx, what, host, binary, `disabled = $3, disabled_reason = nullif($4, '')`, disabled, reason)
}

// SetForcedDown marks a service down whatever its reports say (or clears the
// mark), for fencing a host that is known dead before its reports time out.
func (s *Store) SetForcedDown(ctx context.Context, host, binary string, forced bool) (*Record, error) {
	return s.update(ctx, "force down", host, binary, `forced_down = $3`, forced)
}

// Delete soft-deletes the live row of (host, binary).
func (s *Store) Delete(ctx context.Context, host, binary string) (*Record, error) {
	return s.update(ctx, "delete", host, binary, `deleted = true, deleted_at = now()`)
}

// DeleteUnseen soft-deletes the live row of (host, binary) only while it
// was not seen up since it was read: its last_seen_up is still lastSeenUp
// (nil: never seen). A service that registered or reported since (it came
// back) keeps its row, and the error matches ErrSeen; one deleted since,
// ErrNotFound. The check and the delete are one statement.
func (s *Store) DeleteUnseen(ctx context.Context, host, binary string, lastSeenUp *time.Time) (*Record, error) {
	r, err := scan(s.pool.QueryRow(ctx, `UPDATE services SET deleted = true, deleted_at = now(), updated_at = now()
		WHERE host = $1 AND "binary" = $2 AND NOT deleted AND last_seen_up IS NOT DISTINCT FROM $3
		RETURNING `+columns, host, binary, lastSeenUp))
	if errors.Is(err, ErrNotFound) {
		cur, gerr := s.Get(ctx, host, binary)
		switch {
		case gerr == nil:
			seen := "never"
			if cur.LastSeenUp != nil {
				seen = cur.LastSeenUp.UTC().Format(time.RFC3339)
			}
			err = fmt.Errorf("%w (last seen up %s)", ErrSeen, seen)
		case !errors.Is(gerr, ErrNotFound):
			err = gerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("delete service %s on %s: %w", binary, host, err)
	}
	return r, nil
}
