package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/novaflow/novaflow/drivers/compute"
)

const nodeColumns = `host, vcpus, memory_mb, disk_gb, vcpus_used, memory_mb_used, disk_gb_used, updated_at`

func scanNode(row pgx.Row) (Node, error) {
	var n Node
	err := row.Scan(&n.Host, &n.VCPUs, &n.MemoryMB, &n.DiskGB, &n.VCPUsUsed, &n.MemoryMBUsed, &n.DiskGBUsed, &n.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Node{}, ErrNoNode
	}
	return n, err
}

// usage is the usage of the live instances claimed on host $1, as one row u
// (vcpus, memory_mb, disk_gb).
const usage = `(SELECT coalesce(sum(vcpus), 0) AS vcpus, coalesce(sum(memory_mb), 0) AS memory_mb,
	             coalesce(sum(disk_gb), 0) AS disk_gb
	      FROM instances WHERE host = $1 AND NOT deleted) u`

// recomputeUsage sets the usage columns of host's node from the live
// instances claimed on it. Callers hold the node's row lock.
const recomputeUsage = `
	UPDATE compute_nodes n SET
		vcpus_used = u.vcpus, memory_mb_used = u.memory_mb, disk_gb_used = u.disk_gb, updated_at = now()
	FROM ` + usage + `
	WHERE n.host = $1 AND NOT n.deleted
	RETURNING n.host, n.vcpus, n.memory_mb, n.disk_gb, n.vcpus_used, n.memory_mb_used, n.disk_gb_used, n.updated_at`

// lockNode locks host's node row for the transaction and returns it, or
// ErrNoNode.
func lockNode(ctx context.Context, tx pgx.Tx, host string) (Node, error) {
	return scanNode(tx.QueryRow(ctx, `SELECT `+nodeColumns+` FROM compute_nodes WHERE host = $1 AND NOT deleted FOR UPDATE`, host))
}

// UpdateNode is RefreshNode without its report of whether it wrote.
func (s *Store) UpdateNode(ctx context.Context, host string, res compute.Resources) (Node, error) {
	n, _, err := s.RefreshNode(ctx, host, res)
	return n, err
}

// RefreshNode records host's capacity as its driver reports it and its
// usage recomputed from the instances claimed on it (the resource tracker's
// update_available_resource), and reports whether it wrote. As nova's
// resource tracker saves the compute node only when its resources changed
// (_update, _resource_change), RefreshNode writes the row only when its
// capacity or usage differ from what the database holds: on an idle host it
// is one read and no write. A missing row (first start, or the node was
// deleted) is created.
//
// The comparison reads the node and the usage of its instances in one
// statement, so from one snapshot: claims change both in one transaction,
// so what it sees is consistent. When something differs, the node's row is
// locked first, as claims lock it, and the usage recomputed under that lock,
// so a claim made meanwhile is never overwritten by a stale sum.
func (s *Store) RefreshNode(ctx context.Context, host string, res compute.Resources) (Node, bool, error) {
	n, same, err := s.nodeMatches(ctx, host, res)
	if err != nil {
		return Node{}, false, fmt.Errorf("update compute node %s: %w", host, err)
	}
	if same {
		return n, false, nil
	}
	written := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := lockNode(ctx, tx, host)
		if errors.Is(err, ErrNoNode) {
			n, err = scanNode(tx.QueryRow(ctx, `
				INSERT INTO compute_nodes (host, vcpus, memory_mb, disk_gb, vcpus_used, memory_mb_used, disk_gb_used)
				SELECT $1::text, $2::integer, $3::integer, $4::integer, u.vcpus, u.memory_mb, u.disk_gb FROM `+usage+`
				ON CONFLICT (host) WHERE NOT deleted DO NOTHING
				RETURNING `+nodeColumns,
				host, res.VCPUs, res.MemoryMB, res.DiskGB))
			if err == nil {
				written = true
				return nil
			}
			if !errors.Is(err, ErrNoNode) {
				return err
			}
			cur, err = lockNode(ctx, tx, host) // created meanwhile by another writer
		}
		if err != nil {
			return err
		}
		n, err = scanNode(tx.QueryRow(ctx, `
			UPDATE compute_nodes n SET vcpus = $2, memory_mb = $3, disk_gb = $4,
				vcpus_used = u.vcpus, memory_mb_used = u.memory_mb, disk_gb_used = u.disk_gb, updated_at = now()
			FROM `+usage+`
			WHERE n.host = $1 AND NOT n.deleted
			  AND (n.vcpus, n.memory_mb, n.disk_gb, n.vcpus_used, n.memory_mb_used, n.disk_gb_used)
			      IS DISTINCT FROM ($2, $3, $4, u.vcpus, u.memory_mb, u.disk_gb)
			RETURNING n.host, n.vcpus, n.memory_mb, n.disk_gb, n.vcpus_used, n.memory_mb_used, n.disk_gb_used, n.updated_at`,
			host, res.VCPUs, res.MemoryMB, res.DiskGB))
		if errors.Is(err, ErrNoNode) { // equal under the lock: it changed back meanwhile
			n = cur
			return nil
		}
		written = err == nil
		return err
	})
	if err != nil {
		return Node{}, false, fmt.Errorf("update compute node %s: %w", host, err)
	}
	return n, written, nil
}

// nodeMatches returns host's node and whether its capacity is res and its
// usage that of the instances claimed on it. A missing node does not match.
func (s *Store) nodeMatches(ctx context.Context, host string, res compute.Resources) (Node, bool, error) {
	var n Node
	var used compute.Resources
	err := s.pool.QueryRow(ctx, `SELECT n.host, n.vcpus, n.memory_mb, n.disk_gb, n.vcpus_used, n.memory_mb_used,
			n.disk_gb_used, n.updated_at, u.vcpus, u.memory_mb, u.disk_gb
		FROM compute_nodes n, `+usage+`
		WHERE n.host = $1 AND NOT n.deleted`, host).Scan(&n.Host, &n.VCPUs, &n.MemoryMB, &n.DiskGB,
		&n.VCPUsUsed, &n.MemoryMBUsed, &n.DiskGBUsed, &n.UpdatedAt, &used.VCPUs, &used.MemoryMB, &used.DiskGB)
	if errors.Is(err, pgx.ErrNoRows) {
		return Node{}, false, nil
	}
	if err != nil {
		return Node{}, false, err
	}
	same := n.VCPUs == res.VCPUs && n.MemoryMB == res.MemoryMB && n.DiskGB == res.DiskGB &&
		n.VCPUsUsed == used.VCPUs && n.MemoryMBUsed == used.MemoryMB && n.DiskGBUsed == used.DiskGB
	return n, same, nil
}

// Node returns host's compute node, or ErrNoNode.
func (s *Store) Node(ctx context.Context, host string) (Node, error) {
	n, err := scanNode(s.pool.QueryRow(ctx, `SELECT `+nodeColumns+` FROM compute_nodes WHERE host = $1 AND NOT deleted`, host))
	if err != nil {
		return Node{}, fmt.Errorf("get compute node %s: %w", host, err)
	}
	return n, nil
}

// Nodes returns every live compute node, by host.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+nodeColumns+` FROM compute_nodes WHERE NOT deleted ORDER BY host`)
	if err != nil {
		return nil, fmt.Errorf("list compute nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("list compute nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list compute nodes: %w", err)
	}
	return out, nil
}

// Claim counts the instance against host's node when the node has room for
// its flavor: the instance's host becomes host and the node's usage grows,
// in one transaction that holds the node's row lock, so concurrent claims
// on one node never over-commit it. Claiming an instance already claimed on
// host does nothing. It fails with ErrNotFound (no live instance), a
// *ConflictError (the instance is being deleted: task_state deleting, as
// nova refuses work on a deleting instance), a *ClaimedError (claimed on
// another host), ErrNoNode, or an *InsufficientError naming the resource
// that is short.
func (s *Store) Claim(ctx context.Context, uuid, host string) (Node, error) {
	var n Node
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		node, err := lockNode(ctx, tx, host)
		if err != nil {
			return err
		}
		inst, err := scanInstance(tx.QueryRow(ctx, `SELECT `+instanceColumns+` FROM instances
			WHERE uuid = $1 AND NOT deleted FOR UPDATE`, uuid))
		if err != nil {
			return err
		}
		// A terminate has begun: the instance must not gain a host (the
		// row lock orders this with terminate's own update).
		if inst.TaskState == Deleting || inst.VMState == Deleted {
			return &ConflictError{Current: inst}
		}
		cur, f := inst.Host, inst.Flavor
		switch cur {
		case host:
			n = node
			return nil
		case "":
		default:
			return &ClaimedError{UUID: uuid, Host: cur}
		}
		// The usage columns are recomputed under the lock, so they are exact.
		if node, err = scanNode(tx.QueryRow(ctx, recomputeUsage, host)); err != nil {
			return err
		}
		free := node.Free()
		for _, r := range []struct {
			name      string
			want, has int
		}{
			{"vcpus", f.VCPUs, free.VCPUs},
			{"memory_mb", f.MemoryMB, free.MemoryMB},
			{"disk_gb", f.DiskGB, free.DiskGB},
		} {
			if r.want > r.has {
				return &InsufficientError{Host: host, Resource: r.name, Requested: r.want, Free: max(r.has, 0)}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE instances SET host = $2, updated_at = now() WHERE uuid = $1`, uuid, host); err != nil {
			return err
		}
		n, err = scanNode(tx.QueryRow(ctx, recomputeUsage, host))
		return err
	})
	if err != nil {
		return Node{}, fmt.Errorf("claim instance %s on host %s: %w", uuid, host, err)
	}
	return n, nil
}

// Release undoes a claim: when the live instance is claimed on host, its
// host is cleared and the node's usage shrinks. Releasing an instance that
// is not claimed on host does nothing, so a repeated release is harmless.
// Nor is an instance being deleted (task_state deleting) released: its
// terminate gives the claim back when it deletes the row, and until then
// the instance stays where the terminate found it, so that the terminate's
// own updates (conditional on the host) still apply, its failure's above
// all.
func (s *Store) Release(ctx context.Context, uuid, host string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := lockNode(ctx, tx, host); err != nil && !errors.Is(err, ErrNoNode) {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE instances SET host = NULL, updated_at = now()
			WHERE uuid = $1 AND host = $2 AND NOT deleted AND task_state IS DISTINCT FROM $3`, uuid, host, string(Deleting))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, recomputeUsage, host)
		return err
	})
	if err != nil {
		return fmt.Errorf("release claim of instance %s on host %s: %w", uuid, host, err)
	}
	return nil
}

// MarkDeleted soft-deletes the instance (vm_state deleted, no task, power
// NOSTATE, terminated now) and gives its resources back to its node, in one
// transaction. Deleting a deleted instance returns it as it is; an unknown
// one is ErrNotFound.
func (s *Store) MarkDeleted(ctx context.Context, uuid string) (Instance, error) {
	var out Instance
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var host string
		err := tx.QueryRow(ctx, `SELECT coalesce(host, '') FROM instances WHERE uuid = $1`, uuid).Scan(&host)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if host != "" {
			if _, err := lockNode(ctx, tx, host); err != nil && !errors.Is(err, ErrNoNode) {
				return err
			}
		}
		out, err = scanInstance(tx.QueryRow(ctx, `
			UPDATE instances SET vm_state = 'deleted', task_state = NULL, power_state = 'NOSTATE', fault = NULL,
				deleted = true, deleted_at = now(), terminated_at = now(), updated_at = now()
			WHERE uuid = $1 AND NOT deleted
			RETURNING `+instanceColumns, uuid))
		if errors.Is(err, ErrNotFound) { // already deleted
			out, err = scanInstance(tx.QueryRow(ctx, `SELECT `+instanceColumns+` FROM instances WHERE uuid = $1`, uuid))
			return err
		}
		if err != nil || host == "" {
			return err
		}
		_, err = tx.Exec(ctx, recomputeUsage, host)
		return err
	})
	if err != nil {
		return Instance{}, fmt.Errorf("delete instance %s: %w", uuid, err)
	}
	return out, nil
}
