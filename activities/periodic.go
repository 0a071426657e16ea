package activities

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// Reasons a host skips a periodic task.
const (
	SkippedRunning  = "still running from an earlier run"
	SkippedDisabled = "periodic tasks are off on this host (NOVAFLOW_PERIODIC_ENABLE=false)"
	SkippedExternal = "external_process_ok task, and this host runs no external tasks (NOVAFLOW_RUN_EXTERNAL_PERIODIC_TASKS=false)"
)

// Periodic returns the activity that runs task once on this host. The task
// never runs twice at once on a host: a run that finds the previous one still
// going skips (oslo.service's one thread per service runs a task only after
// the previous run returned). gate, when set, says why the task may not run
// on this host now ("" when it may): the host's settings, which a SIGHUP
// changes. Before it runs, the activity waits its part of the run's spread,
// at most maxSpread() when maxSpread is set (the host's
// periodic_fuzzy_delay).
// When the task fails, RaiseOnError decides: set, the activity fails without
// retry (the host shows failed in the run's result and the run is red in the
// Web UI); unset, the failure is logged to logger and kept in the result, as
// oslo.service logs and moves on.
func Periodic(task managers.PeriodicTask, logger *slog.Logger, gate func() string, maxSpread func() time.Duration) func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
	var running atomic.Bool
	return func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
		if req.Task != task.Name {
			return workflows.PeriodicResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("run of periodic task %q reached the activity of task %q", req.Task, task.Name), "WrongTask", nil)
		}
		if gate != nil {
			if why := gate(); why != "" {
				return workflows.PeriodicResult{Skipped: why}, nil
			}
		}
		if spread, err := time.ParseDuration(req.Spread); err == nil && spread > 0 {
			if maxSpread != nil {
				// The run's input says how far to spread; this host's
				// setting bounds it (an edited schedule cannot hold the
				// task back for a year).
				spread = min(spread, max(maxSpread(), 0))
			}
			select {
			case <-time.After(Phase(req.Host+"/"+req.Task, spread)):
			case <-ctx.Done():
				return workflows.PeriodicResult{}, ctx.Err()
			}
		}
		// Taken after the wait: a run waiting its part of the spread does
		// not hold back the runs that come in the meantime (nor, with a
		// long spread, the task for as long).
		if !running.CompareAndSwap(false, true) {
			return workflows.PeriodicResult{Skipped: SkippedRunning}, nil
		}
		defer running.Store(false)
		start := time.Now()
		err := task.Run(ctx)
		res := workflows.PeriodicResult{Duration: time.Since(start).Round(time.Millisecond).String()}
		if err == nil {
			return res, nil
		}
		typ, field := ErrorType(err)
		if task.RaiseOnError {
			// The cause carries the task's error's type, so the run's
			// failure in the Web UI and `temporal workflow show` says what
			// kind of error it was; the details carry it to the run's result.
			cause := temporal.NewApplicationErrorWithOptions(err.Error(), typ, temporal.ApplicationErrorOptions{NonRetryable: true})
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("periodic task %s: %v", task.Name, err), workflows.PeriodicFailedType, cause,
				workflows.HostError{Type: typ, Field: field, Message: err.Error()})
		}
		logger.Error("periodic task failed; raise_on_error is off, so the run succeeds and the task runs again at its next interval",
			"task", task.Name, "duration", res.Duration, "error", err, "error_type", typ)
		res.Error, res.ErrorType, res.ErrorField = err.Error(), typ, field
		return res, nil
	}
}

// Phase is a fixed offset in [0, every) derived from key, in whole
// milliseconds: the same key always gets the same point of the interval, and
// different keys are spread over it.
func Phase(key string, every time.Duration) time.Duration {
	ms := every.Milliseconds()
	if ms <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return time.Duration(h.Sum64()%uint64(ms)) * time.Millisecond
}

// ErrorType says what kind of failure err is, for results a person reads (a
// periodic task's failures in its run's result, a method's failure in a
// fanout's, through its activity's error type, see Method): the Type and Field of a
// *managers.Error in err's chain; Timeout for a deadline that passed;
// Canceled for a cancelled context; else the Go type of the first error in
// the chain that is more than a message or a wrapper (such as
// *pgconn.PgError or *fs.PathError); workflows.UntypedError when there is
// none.
func ErrorType(err error) (typ, field string) {
	if e, ok := managers.AsError(err); ok {
		return e.Type, e.Field
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return managers.TimeoutType, ""
	case errors.Is(err, context.Canceled):
		return "Canceled", ""
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch t := fmt.Sprintf("%T", e); t {
		case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		default:
			return t, ""
		}
	}
	return workflows.UntypedError, ""
}
