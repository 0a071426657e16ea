package volume

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/managers"
)

// errNoRow is returned by store methods when no volume matches.
var errNoRow = errors.New("no such volume")

// store reads and writes the volumes and volume_usage tables. Every status
// change is one conditional UPDATE, so that concurrent requests and retries
// cannot interleave.
type store struct {
	db *pgxpool.Pool
}

const volumeColumns = `id::text, name, size_gb, host, status, coalesce(instance_uuid::text, ''), instance_host,
	mountpoint, attached_at, created_at, updated_at, deleted_at, coalesce(project_id, ''), coalesce(user_id, '')`

func scanVolume(row pgx.Row) (Volume, error) {
	var v Volume
	err := row.Scan(&v.ID, &v.Name, &v.SizeGB, &v.Host, &v.Status, &v.InstanceUUID, &v.InstanceHost,
		&v.Mountpoint, &v.AttachedAt, &v.CreatedAt, &v.UpdatedAt, &v.DeletedAt, &v.ProjectID, &v.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Volume{}, errNoRow
	}
	return v, err
}

// get returns the volume, deleted or not.
func (s store) get(ctx context.Context, id string) (Volume, error) {
	v, err := scanVolume(s.db.QueryRow(ctx, `SELECT `+volumeColumns+` FROM volumes WHERE id = $1`, id))
	if err != nil && !errors.Is(err, errNoRow) {
		return Volume{}, fmt.Errorf("read volume %s: %w", id, err)
	}
	return v, err
}

// insert adds a volume in status creating; ok is false when the ID exists.
func (s store) insert(ctx context.Context, r CreateRequest, host string, owner managers.Ownership) (v Volume, ok bool, err error) {
	v, err = scanVolume(s.db.QueryRow(ctx, `
		INSERT INTO volumes (id, name, size_gb, host, status, project_id, user_id) VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''))
		ON CONFLICT (id) DO NOTHING
		RETURNING `+volumeColumns, r.VolumeID, r.Name, r.SizeGB, host, Creating, owner.ProjectID, owner.UserID))
	switch {
	case errors.Is(err, errNoRow):
		return Volume{}, false, nil
	case err != nil:
		return Volume{}, false, fmt.Errorf("insert volume %s: %w", r.VolumeID, err)
	}
	return v, true, nil
}

// change is a status change: the new status and attachment.
type change struct {
	status     Status
	instance   string // instance_uuid; "" clears it
	instHost   string
	mountpoint string
}

// update moves volume id of host from one of the statuses from (and, when
// instance is set, attached to that instance) to ch. When no row matches it
// returns a Conflict naming the volume's status, or NotFound.
func (s store) update(ctx context.Context, id, host string, from []Status, instance string, ch change) (Volume, error) {
	v, err := scanVolume(s.db.QueryRow(ctx, `
		UPDATE volumes SET status = $4,
			instance_uuid = nullif($5, '')::uuid, instance_host = $6, mountpoint = $7,
			attached_at = CASE WHEN $4 = 'in-use' THEN coalesce(attached_at, now())
			                   WHEN $5 = '' THEN NULL ELSE attached_at END,
			deleted_at = CASE WHEN $4 = 'deleted' THEN now() END,
			updated_at = now()
		WHERE id = $1 AND host = $2 AND status = ANY($3)
		  AND ($8 = '' OR instance_uuid = nullif($8, '')::uuid)
		RETURNING `+volumeColumns,
		id, host, statuses(from), ch.status, ch.instance, ch.instHost, ch.mountpoint, instance))
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, errNoRow) {
		return Volume{}, fmt.Errorf("update volume %s: %w", id, err)
	}
	cur, gerr := s.get(ctx, id)
	switch {
	case errors.Is(gerr, errNoRow):
		return Volume{}, managers.NotFound("volume", id)
	case gerr != nil:
		return Volume{}, gerr
	case cur.Host != host:
		return Volume{}, managers.Conflict("volume %s is on host %s, not %s", id, cur.Host, host)
	}
	return Volume{}, managers.Conflict("volume %s is %s (instance %s), cannot become %s", id, cur.Status, orNone(cur.InstanceUUID), ch.status)
}

func statuses(ss []Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// list returns the volumes that r selects, oldest first.
// A project, when not nil, keeps that project's volumes only ("" matches
// none: a volume without an owner has NULL).
func (s store) list(ctx context.Context, r ListRequest, project *string) ([]Volume, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+volumeColumns+` FROM volumes
		WHERE ($1 = '' OR instance_uuid = nullif($1, '')::uuid)
		  AND ($2 = '' OR status = $2)
		  AND ($3 OR deleted_at IS NULL)
		  AND ($4::text IS NULL OR project_id = $4)
		ORDER BY created_at, id`, r.InstanceUUID, string(r.Status), r.Deleted, project)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Volume, error) { return scanVolume(row) })
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	return out, nil
}

// Usage is what report_usage found on a host: a row of volume_usage.
type Usage struct {
	Host           string `json:"host"`
	Volumes        int    `json:"volumes"`
	ProvisionedGB  int64  `json:"provisioned_gb"`
	AllocatedBytes int64  `json:"allocated_bytes"`
	CapacityBytes  int64  `json:"capacity_bytes"`
	FreeBytes      int64  `json:"free_bytes"`
}

// putUsage writes the host's usage.
func (s store) putUsage(ctx context.Context, u Usage) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO volume_usage (host, volumes, provisioned_gb, allocated_bytes, capacity_bytes, free_bytes)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (host) DO UPDATE SET volumes = $2, provisioned_gb = $3, allocated_bytes = $4,
			capacity_bytes = $5, free_bytes = $6, updated_at = now()`,
		u.Host, u.Volumes, u.ProvisionedGB, u.AllocatedBytes, u.CapacityBytes, u.FreeBytes)
	if err != nil {
		return fmt.Errorf("write volume usage of host %s: %w", u.Host, err)
	}
	return nil
}

// ownerQuery reads a volume's owner by its primary key.
const ownerQuery = `SELECT coalesce(project_id, ''), coalesce(user_id, '') FROM volumes WHERE id = $1::uuid`

// owner returns who owns volume id; a NotFound *managers.Error when there is
// no such volume (or id is not a UUID). One lookup by primary key; id may be
// in either case.
func (s store) owner(ctx context.Context, id string) (managers.Ownership, error) {
	var o managers.Ownership
	if managers.CheckUUID("volume_id", id) != nil {
		// No volume has it; and comparing the column (not its text) lets
		// the lookup use the primary key and match either case.
		return o, managers.NotFound("volume", id)
	}
	err := s.db.QueryRow(ctx, ownerQuery, id).Scan(&o.ProjectID, &o.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, managers.NotFound("volume", id)
	}
	if err != nil {
		return o, fmt.Errorf("owner of volume %s: %w", id, err)
	}
	return o, nil
}
