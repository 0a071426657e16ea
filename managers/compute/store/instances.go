package store

import (
	"context"
	"errors"
	"fmt"
	"github.com/novaflow/novaflow/managers"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novaflow/novaflow/drivers/compute"
)

// Store reads and writes the compute tables. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store over pool, whose schema includes the compute tables.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const instanceColumns = `uuid::text, name, coalesce(host, ''), vm_state, coalesce(task_state, ''), power_state,
	flavor_name, vcpus, memory_mb, disk_gb, image_command, image_env, coalesce(fault, ''),
	launched_at, terminated_at, created_at, updated_at, deleted_at, deleted, coalesce(project_id, ''), coalesce(user_id, '')`

func scanInstance(row pgx.Row) (Instance, error) {
	var i Instance
	var vm, task, power string
	err := row.Scan(&i.UUID, &i.Name, &i.Host, &vm, &task, &power,
		&i.Flavor.Name, &i.Flavor.VCPUs, &i.Flavor.MemoryMB, &i.Flavor.DiskGB, &i.Image.Command, &i.Image.Env, &i.Fault,
		&i.LaunchedAt, &i.TerminatedAt, &i.CreatedAt, &i.UpdatedAt, &i.DeletedAt, &i.Deleted, &i.ProjectID, &i.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Instance{}, ErrNotFound
	}
	if err != nil {
		return Instance{}, err
	}
	i.VMState, i.TaskState, i.PowerState = VMState(vm), TaskState(task), compute.PowerState(power)
	if len(i.Image.Env) == 0 {
		i.Image.Env = nil
	}
	return i, nil
}

func collectInstances(rows pgx.Rows) ([]Instance, error) {
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		i, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// NewInstance is what CreateInstances needs for one instance.
type NewInstance struct {
	UUID   string
	Name   string
	Flavor compute.Flavor
	Image  Image
	// ProjectID and UserID own the instance (the builder's token); empty
	// when authorization is off.
	ProjectID string
	UserID    string
}

// CreateInstances inserts instances in vm_state building, task_state
// scheduling, each with a "create" action of requestID, in one transaction.
// It is idempotent: instances that exist are left as they are. It returns the
// instances as they are after the call, in the order given.
func (s *Store) CreateInstances(ctx context.Context, requestID string, insts []NewInstance) ([]Instance, error) {
	out := make([]Instance, 0, len(insts))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, n := range insts {
			env := n.Image.Env
			if env == nil {
				env = []string{}
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO instances (uuid, name, vm_state, task_state, flavor_name, vcpus, memory_mb, disk_gb, image_command, image_env, project_id, user_id)
				VALUES ($1, $2, 'building', 'scheduling', $3, $4, $5, $6, $7, $8, nullif($9, ''), nullif($10, ''))
				ON CONFLICT (uuid) DO NOTHING`,
				n.UUID, n.Name, n.Flavor.Name, n.Flavor.VCPUs, n.Flavor.MemoryMB, n.Flavor.DiskGB, n.Image.Command, env, n.ProjectID, n.UserID); err != nil {
				return fmt.Errorf("insert instance %s: %w", n.UUID, err)
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO instance_actions (request_id, action, instance_uuid) VALUES ($1, 'create', $2)
				ON CONFLICT (instance_uuid, request_id, action, host) DO NOTHING`, requestID, n.UUID); err != nil {
				return fmt.Errorf("insert create action of instance %s: %w", n.UUID, err)
			}
			i, err := scanInstance(tx.QueryRow(ctx, `SELECT `+instanceColumns+` FROM instances WHERE uuid = $1`, n.UUID))
			if err != nil {
				return fmt.Errorf("read instance %s: %w", n.UUID, err)
			}
			out = append(out, i)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create instances: %w", err)
	}
	return out, nil
}

// Get returns the instance with uuid, deleted or not, or ErrNotFound.
func (s *Store) Get(ctx context.Context, uuid string) (Instance, error) {
	i, err := scanInstance(s.pool.QueryRow(ctx, `SELECT `+instanceColumns+` FROM instances WHERE uuid = $1`, uuid))
	if err != nil {
		return Instance{}, fmt.Errorf("get instance %s: %w", uuid, err)
	}
	return i, nil
}

// Filter narrows List; zero fields match everything.
type Filter struct {
	// Host, when set, keeps the instances claimed on or running on it.
	Host string
	// UUIDs, when set, keeps these instances.
	UUIDs []string
	// Deleted keeps soft-deleted instances too.
	Deleted bool
	// ProjectID, when set, keeps the instances of that project, as nova
	// lists a non-admin's (policy.Credentials.Admin sees all).
	ProjectID string
}

// List returns the instances that match f, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Instance, error) {
	var where []string
	var args []any
	if f.Host != "" {
		args = append(args, f.Host)
		where = append(where, fmt.Sprintf("host = $%d", len(args)))
	}
	if f.UUIDs != nil {
		args = append(args, f.UUIDs)
		where = append(where, fmt.Sprintf("uuid::text = ANY($%d)", len(args)))
	}
	if f.ProjectID != "" {
		args = append(args, f.ProjectID)
		where = append(where, fmt.Sprintf("project_id = $%d", len(args)))
	}
	if !f.Deleted {
		where = append(where, "NOT deleted")
	}
	q := `SELECT ` + instanceColumns + ` FROM instances`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at, id`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out, err := collectInstances(rows)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// Cond is what an instance must look like for Update to change it. Zero
// fields impose nothing; a deleted instance never matches.
type Cond struct {
	// Host, when set, is the host the instance must be on.
	Host string
	// NoHost requires the instance to be on no host (never claimed, or its
	// claim released); Host must then be empty.
	NoHost bool
	// VMStates, when set, lists the vm states allowed.
	VMStates []VMState
	// TaskStates, when set, lists the task states allowed (NoTask: none).
	TaskStates []TaskState
}

// Set is what Update writes.
type Set struct {
	// VMState, when set, is the new vm state. Leaving error clears the fault.
	VMState VMState
	// TaskState is the new task state, always written (NoTask clears it).
	TaskState TaskState
	// PowerState, when set, is the new power state.
	PowerState compute.PowerState
	// Fault is the reason stored with VMState Error.
	Fault string
}

// Update changes the instance when it meets cond, in one statement, and
// returns it as written. It fails with ErrNotFound when there is no live
// instance uuid, and with a *ConflictError (matching ErrConflict) holding the
// instance as it is when cond does not hold. The first move to active sets
// launched_at.
func (s *Store) Update(ctx context.Context, uuid string, cond Cond, set Set) (Instance, error) {
	vmStates := make([]string, len(cond.VMStates))
	for i, v := range cond.VMStates {
		vmStates[i] = string(v)
	}
	taskStates := make([]string, len(cond.TaskStates))
	for i, t := range cond.TaskStates {
		taskStates[i] = string(t)
	}
	i, err := scanInstance(s.pool.QueryRow(ctx, `
		UPDATE instances SET
			vm_state    = coalesce(nullif($2::text, ''), vm_state),
			task_state  = nullif($3::text, ''),
			power_state = coalesce(nullif($4::text, ''), power_state),
			fault       = CASE WHEN $2::text = '' THEN fault
			                   WHEN $2::text = 'error' THEN nullif($5::text, '')
			                   ELSE NULL END,
			launched_at = CASE WHEN $2::text = 'active' THEN coalesce(launched_at, now()) ELSE launched_at END,
			updated_at  = now()
		WHERE uuid = $1 AND NOT deleted
		  AND ($6::text = '' OR host = $6::text)
		  AND (NOT $9::bool OR coalesce(host, '') = '')
		  AND (cardinality($7::text[]) = 0 OR vm_state = ANY($7::text[]))
		  AND (cardinality($8::text[]) = 0 OR coalesce(task_state, '') = ANY($8::text[]))
		RETURNING `+instanceColumns,
		uuid, string(set.VMState), string(set.TaskState), string(set.PowerState), set.Fault,
		cond.Host, vmStates, taskStates, cond.NoHost))
	if err == nil {
		return i, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Instance{}, fmt.Errorf("update instance %s: %w", uuid, err)
	}
	cur, err := s.Get(ctx, uuid)
	if err != nil {
		return Instance{}, fmt.Errorf("update instance %s: %w", uuid, err)
	}
	if cur.Deleted {
		return Instance{}, fmt.Errorf("update instance %s: %w", uuid, ErrNotFound)
	}
	return Instance{}, fmt.Errorf("update instance %s: %w", uuid, &ConflictError{Current: cur})
}

// AddVolume records that volume volumeID is, or is being, attached to the
// instance (nova's block device mapping). Adding it again is a no-op.
func (s *Store) AddVolume(ctx context.Context, uuid, volumeID string) error {
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO block_device_mappings (instance_uuid, volume_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, uuid, volumeID); err != nil {
		return fmt.Errorf("record volume %s of instance %s: %w", volumeID, uuid, err)
	}
	return nil
}

// RemoveVolume forgets volume volumeID of the instance. Removing one that
// is not recorded is a no-op.
func (s *Store) RemoveVolume(ctx context.Context, uuid, volumeID string) error {
	if _, err := s.pool.Exec(ctx, `
		DELETE FROM block_device_mappings WHERE instance_uuid = $1 AND volume_id = $2`, uuid, volumeID); err != nil {
		return fmt.Errorf("forget volume %s of instance %s: %w", volumeID, uuid, err)
	}
	return nil
}

// Volumes lists the volumes recorded for the instance, in the order they
// were attached.
func (s *Store) Volumes(ctx context.Context, uuid string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT volume_id::text FROM block_device_mappings WHERE instance_uuid = $1
		ORDER BY created_at, volume_id`, uuid)
	if err != nil {
		return nil, fmt.Errorf("list the volumes of instance %s: %w", uuid, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the volumes of instance %s: %w", uuid, err)
	}
	return ids, nil
}

// ownerQuery reads an instance's owner by the unique index on uuid.
const ownerQuery = `SELECT coalesce(project_id, ''), coalesce(user_id, '') FROM instances WHERE uuid = $1::uuid`

// Owner returns who owns instance uuid (managers.Owner), deleted or not; a
// NotFound *managers.Error when there is no such instance (or uuid is not a
// UUID). One lookup by the unique index on uuid; uuid may be in either case.
func (s *Store) Owner(ctx context.Context, uuid string) (managers.Ownership, error) {
	var o managers.Ownership
	if managers.CheckUUID("uuid", uuid) != nil {
		// No instance has it; and comparing the column (not its text) lets
		// the lookup use the unique index on uuid and match either case.
		return o, managers.NotFound("instance", uuid)
	}
	err := s.pool.QueryRow(ctx, ownerQuery, uuid).Scan(&o.ProjectID, &o.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, managers.NotFound("instance", uuid)
	}
	if err != nil {
		return o, fmt.Errorf("owner of instance %s: %w", uuid, err)
	}
	return o, nil
}
