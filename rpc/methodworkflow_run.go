package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

// Timeouts of RPC activities.
const (
	// HeartbeatTimeout is the heartbeat timeout of an RPC activity whose
	// deadline is longer: the activity heartbeats while its method runs
	// (activities.Method), so a host that dies in the middle of a call is
	// noticed within it and the call is retried, instead of waiting for the
	// whole deadline.
	HeartbeatTimeout = 30 * time.Second
	// FanoutHostStartTimeout is how long a fanout waits for each host to take
	// its call (schedule-to-start): a host that went down since its last
	// report fails with a Timeout instead of holding up the fanout.
	FanoutHostStartTimeout = 10 * time.Second
	// maxMargin caps the part of a deadline kept back to report the outcome.
	maxMargin = 2 * time.Second
)

// retryPolicy is the retry policy of RPC activities: failures that are not
// typed (a crash, a lost host, a plain Go error) are retried with
// exponential backoff for as long as the deadline allows; a typed
// managers.Error fails the call at once, except Unavailable, which is
// retried (its application error says so itself, see
// activities.ToApplicationError).
func retryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
	}
}

// executionDeadline returns when the execution must have its result: its start time
// plus its execution timeout, or its run timeout when that is shorter. An
// execution started without either (from the shell, without
// --execution-timeout) gets def, recorded in its history as a side effect.
func executionDeadline(ctx workflow.Context, def time.Duration) time.Time {
	info := workflow.GetInfo(ctx)
	d := info.WorkflowExecutionTimeout
	if r := info.WorkflowRunTimeout; r > 0 && (d == 0 || r < d) {
		d = r
	}
	if d == 0 {
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return def }).Get(&d); err != nil || d <= 0 {
			d = def
		}
	}
	return info.WorkflowStartTime.Add(d)
}

// budget is the time an activity may take from now so that the workflow
// still reports its outcome before deadline: what is left, minus a tenth
// (at most maxMargin).
func budget(now, deadline time.Time) time.Duration {
	left := deadline.Sub(now)
	return left - min(left/10, maxMargin)
}

// activityOptions are the options of an RPC activity on queue: it must start
// within startWithin and finish within total, retries included.
func activityOptions(queue string, startWithin, total time.Duration) workflow.ActivityOptions {
	ao := workflow.ActivityOptions{
		TaskQueue:              queue,
		ScheduleToStartTimeout: startWithin,
		ScheduleToCloseTimeout: total,
		RetryPolicy:            retryPolicy(),
	}
	if total > HeartbeatTimeout {
		ao.HeartbeatTimeout = HeartbeatTimeout
	}
	return ao
}

// runMethod runs the call's activity <topic>.<method> on the target's task
// queue and returns its JSON result. The activity must start and finish
// before deadline, less a margin to report the outcome: so a call to a dead
// host fails with a Timeout (schedule-to-start) within the deadline, while a
// cast, whose deadline is long, waits for the host to come back. Errors are
// those of callError.
//
// When the workflow itself runs on the target host's queue <topic>.<host>
// (a Client starts host-targeted calls there), only that host's service
// takes its workflow tasks, so the method runs as a local activity in the
// same workflow task: no activity task, no second round trip through the
// server (about half the latency, docs/BENCHMARKS.md), with the same
// deadline, retries and errors. A host that dies mid-call then shows as a
// workflow task timeout, and the call runs again when the host is back, as
// a retried activity would.
func runMethod(ctx workflow.Context, t target, req json.RawMessage, deadline time.Time) (json.RawMessage, error) {
	b := budget(workflow.Now(ctx), deadline)
	if b <= 0 {
		return nil, timeoutError("%s: the deadline passed before the call was dispatched", t.Name())
	}
	var f workflow.Future
	local := onTargetQueue(ctx, t)
	if local {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			ScheduleToCloseTimeout: b,
			RetryPolicy:            retryPolicy(),
		})
		f = workflow.ExecuteLocalActivity(lctx, t.Name(), req, activities.CallInfo{Version: t.Version})
	} else {
		actx := workflow.WithActivityOptions(ctx, activityOptions(t.Queue(), b, b))
		f = workflow.ExecuteActivity(actx, t.Name(), req, activities.CallInfo{Version: t.Version})
	}
	var out json.RawMessage
	if err := f.Get(ctx, &out); err != nil {
		if local {
			return nil, localCallError(t.Name(), t.Queue(), b, err)
		}
		return nil, callError(t.Name(), t.Queue(), b, b, err)
	}
	return out, nil
}

// localCallError is callError for a method run as a local activity, whose
// retries end with the last failure itself rather than an activity error of
// retry state Timeout: a failure the retry policy retries (untyped, or
// Unavailable) can only have stopped because the deadline came, and becomes
// a Timeout that names it.
func localCallError(name, queue string, total time.Duration, err error) error {
	var canceled *temporal.CanceledError
	var te *temporal.TimeoutError
	var appErr *temporal.ApplicationError
	if errors.As(err, &canceled) || errors.As(err, &te) || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		return callError(name, queue, total, total, err)
	}
	return timeoutError("%s on task queue %s: no result within %s; last failure: %s", name, queue, roundDuration(total), failureText(err))
}

// onTargetQueue reports whether the workflow runs on t's host queue, where
// runMethod may run the method as a local activity. It depends only on the
// execution's start (its task queue and request), so replays agree.
func onTargetQueue(ctx workflow.Context, t target) bool {
	q := t.Queue()
	return q != t.Topic && workflow.GetInfo(ctx).TaskQueueName == q
}

// findHost asks activity <topic>.find_host, on any host of the topic, which
// host holds object, for a call of t that names no host.
func findHost(ctx workflow.Context, t target, object string, deadline time.Time) (string, error) {
	b := budget(workflow.Now(ctx), deadline)
	if b <= 0 {
		return "", timeoutError("%s: the deadline passed before the call was dispatched", t.Name())
	}
	name := activities.FindHostName(t.Topic)
	actx := workflow.WithActivityOptions(ctx, activityOptions(t.Topic, b, b))
	var host string
	if err := workflow.ExecuteActivity(actx, name, activities.FindHostRequest{Method: t.Method, Object: object}).Get(ctx, &host); err != nil {
		return "", callError(name, t.Topic, b, b, err)
	}
	if !ValidHost(host) {
		return "", activities.ToApplicationError(managers.Conflict("%s: %s %q has no host to run on (got %q)", t.Name(), "object", object, host))
	}
	return host, nil
}

// callError turns the error of activity name on queue, which had to start
// within startWithin and finish within total, into the call's error: a
// timeout, or retries that ran out of time, becomes a non-retryable
// application error of type Timeout saying what timed out and the last
// failure; a typed error comes back as the application error of the
// same type (activities.FromApplicationError rebuilds it); cancellation and
// anything else pass through.
func callError(name, queue string, startWithin, total time.Duration, err error) error {
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return err
	}
	// Retries that run out of time end either with a timeout, or with the
	// last failure when the server sees that the next attempt would start
	// after the deadline (retry state Timeout).
	var ae *temporal.ActivityError
	if errors.As(err, &ae) && ae.RetryState() == enumspb.RETRY_STATE_TIMEOUT {
		var te *temporal.TimeoutError
		if cause := errors.Unwrap(ae); cause != nil && !errors.As(cause, &te) {
			return timeoutError("%s on task queue %s: no result within %s; last failure: %s", name, queue, roundDuration(total), failureText(cause))
		}
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		if te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
			return timeoutError("%s: no service on task queue %s took the call within %s (is it down?)", name, queue, roundDuration(startWithin))
		}
		if cause := te.Unwrap(); cause != nil {
			return timeoutError("%s on task queue %s: no result within %s; last failure: %s", name, queue, roundDuration(total), failureText(cause))
		}
		return timeoutError("%s on task queue %s: no result within %s", name, queue, roundDuration(total))
	}
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
		return activities.ToApplicationError(e)
	}
	return err
}

// failureText describes an activity's failure in a line: a typed error as
// managers.Error shows it, an application error by its message, after its
// type when it has one worth showing (appErrorType: *fs.PathError, not a
// plain message's).
func failureText(err error) string {
	if e, ok := managers.AsError(activities.FromApplicationError(err)); ok {
		return e.Error()
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if t := appErrorType(appErr); t != "" {
			return t + ": " + appErr.Message()
		}
		return appErr.Message()
	}
	return err.Error()
}

func roundDuration(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// timeoutError is a Timeout *managers.Error as an application error.
func timeoutError(format string, args ...any) error {
	return activities.ToApplicationError(&managers.Error{Type: managers.TimeoutType, Message: fmt.Sprintf(format, args...)})
}
