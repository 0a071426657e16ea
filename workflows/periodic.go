package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
)

const (
	// PeriodicTaskTimeout is the longest a periodic task may run; the run
	// fails when it is reached.
	PeriodicTaskTimeout = time.Hour
	// PeriodicHeartbeatTimeout is how soon a periodic task whose host died
	// mid-run is noticed: the run fails and the schedule's next run may start.
	PeriodicHeartbeatTimeout = 30 * time.Second
)

// Periodic is the workflow of a periodic task, registered per task as
// <topic>.periodic.<task> (activities.PeriodicName) on the host queue
// <topic>.<host> only, and started by the task's schedule every spacing. It
// runs the activity of the same name on the same queue, once: a failure is not
// retried, the schedule's next run is the next try (as oslo.service's). The
// task decides whether its failure fails the run (RaiseOnError) or is logged
// and kept in the result.
func Periodic(ctx workflow.Context, req activities.PeriodicRequest) (activities.PeriodicResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: PeriodicTaskTimeout,
		HeartbeatTimeout:    PeriodicHeartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res activities.PeriodicResult
	err := workflow.ExecuteActivity(ctx, workflow.GetInfo(ctx).WorkflowType.Name, req).Get(ctx, &res)
	return res, err
}
