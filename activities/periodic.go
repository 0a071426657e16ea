package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/managers"
)

// PeriodicName is the name of a topic's periodic task: the workflow type that
// its schedules start and the activity that workflow runs,
// <topic>.periodic.<task> (compute.periodic.update_available_resource). It
// cannot collide with an RPC method's <topic>.<method>.
func PeriodicName(topic, task string) string { return topic + ".periodic." + task }

// PeriodicFailedType is the type of the application error of a periodic task
// that failed with RaiseOnError set.
const PeriodicFailedType = "PeriodicTaskFailed"

// PeriodicRequest is the input of a periodic task's run.
type PeriodicRequest struct {
	Topic string `json:"topic"`
	Host  string `json:"host"`
	Task  string `json:"task"`
}

// PeriodicResult is the outcome of a periodic task's run that did not fail.
type PeriodicResult struct {
	// Duration is how long the task ran, e.g. "1.2s".
	Duration string `json:"duration"`
	// Error is the task's error when it failed without RaiseOnError: the run
	// succeeds, and the error is logged and kept here.
	Error string `json:"error,omitempty"`
}

// Periodic returns the activity that runs task once. While the task runs the
// activity heartbeats when its options ask for heartbeats, so that a host
// that dies mid-task frees the schedule within the heartbeat timeout. When
// the task fails, RaiseOnError decides: set, the activity fails without retry
// (the run is red in the Web UI; the next run comes at the next interval);
// unset, the failure is logged to logger and the run succeeds with the error
// in its result, as oslo.service logs and moves on.
func Periodic(task managers.PeriodicTask, logger *slog.Logger) func(ctx context.Context, req PeriodicRequest) (PeriodicResult, error) {
	return func(ctx context.Context, req PeriodicRequest) (PeriodicResult, error) {
		if req.Task != task.Name {
			return PeriodicResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("run of periodic task %q reached the activity of task %q", req.Task, task.Name), "WrongTask", nil)
		}
		stop := heartbeat(ctx)
		start := time.Now()
		err := task.Run(ctx)
		stop()
		res := PeriodicResult{Duration: time.Since(start).Round(time.Millisecond).String()}
		if err == nil {
			return res, nil
		}
		if task.RaiseOnError {
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("periodic task %s: %v", task.Name, err), PeriodicFailedType, err)
		}
		logger.Error("periodic task failed; raise_on_error is off, so the run succeeds and the task runs again at its next interval",
			"task", task.Name, "duration", res.Duration, "error", err)
		res.Error = err.Error()
		return res, nil
	}
}
