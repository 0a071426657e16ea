package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const actionColumns = `id, request_id, action, instance_uuid::text, host, start_time, finish_time,
	coalesce(result, ''), coalesce(message, '')`

func scanAction(row pgx.Row) (Action, error) {
	var a Action
	err := row.Scan(&a.ID, &a.RequestID, &a.Action, &a.InstanceUUID, &a.Host, &a.StartTime, &a.FinishTime,
		&a.Result, &a.Message)
	return a, err
}

// StartAction records that action of request requestID began on the
// instance (on host, or "" for work not tied to a host) and returns its row.
// A retry of the same request reuses the row: one that ended in Error is
// marked running again; one that ended in Success is returned as it is, so
// the caller can tell the operation already succeeded.
func (s *Store) StartAction(ctx context.Context, requestID, action, uuid, host string) (Action, error) {
	a, err := scanAction(s.pool.QueryRow(ctx, `
		INSERT INTO instance_actions (request_id, action, instance_uuid, host) VALUES ($1, $2, $3, $4)
		ON CONFLICT (instance_uuid, request_id, action, host) DO UPDATE SET
			finish_time = CASE WHEN instance_actions.result = 'Success' THEN instance_actions.finish_time END,
			message     = CASE WHEN instance_actions.result = 'Success' THEN instance_actions.message END,
			result      = CASE WHEN instance_actions.result = 'Success' THEN 'Success' END
		RETURNING `+actionColumns, requestID, action, uuid, host))
	if err != nil {
		return Action{}, fmt.Errorf("record %s action of instance %s: %w", action, uuid, err)
	}
	return a, nil
}

// FinishAction ends the action: Success when opErr is nil, else Error with
// opErr's message.
func (s *Store) FinishAction(ctx context.Context, id int64, opErr error) error {
	result, message := ResultSuccess, ""
	if opErr != nil {
		result, message = ResultError, opErr.Error()
	}
	return s.FinishActionResult(ctx, id, result, message)
}

// FinishActionResult ends the action with result (ResultSuccess or
// ResultError) and a message for people.
func (s *Store) FinishActionResult(ctx context.Context, id int64, result, message string) error {
	_, err := s.pool.Exec(ctx, `UPDATE instance_actions SET finish_time = now(), result = $2, message = nullif($3, '')
		WHERE id = $1`, id, result, message)
	if err != nil {
		return fmt.Errorf("finish instance action %d: %w", id, err)
	}
	return nil
}

// FinishRequest ends every running action of requestID on the instance with
// action name action (on any host): Success when opErr is nil, else Error.
// The conductor uses it to close its "create" action.
func (s *Store) FinishRequest(ctx context.Context, requestID, action, uuid string, opErr error) error {
	result, message := ResultSuccess, ""
	if opErr != nil {
		result, message = ResultError, opErr.Error()
	}
	_, err := s.pool.Exec(ctx, `UPDATE instance_actions SET finish_time = now(), result = $4, message = nullif($5, '')
		WHERE request_id = $1 AND action = $2 AND instance_uuid = $3 AND result IS NULL`,
		requestID, action, uuid, result, message)
	if err != nil {
		return fmt.Errorf("finish %s action of instance %s: %w", action, uuid, err)
	}
	return nil
}

// Actions returns the actions of the instance, oldest first.
func (s *Store) Actions(ctx context.Context, uuid string) ([]Action, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+actionColumns+` FROM instance_actions WHERE instance_uuid = $1
		ORDER BY start_time, id`, uuid)
	if err != nil {
		return nil, fmt.Errorf("list actions of instance %s: %w", uuid, err)
	}
	defer rows.Close()
	var out []Action
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("list actions of instance %s: %w", uuid, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list actions of instance %s: %w", uuid, err)
	}
	return out, nil
}
