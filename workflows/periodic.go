package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

const (
	// PeriodicTaskTimeout is the longest a periodic task may run on a host;
	// the host's run fails when it is reached.
	PeriodicTaskTimeout = time.Hour
	// PeriodicStartTimeout is how long a host has to take its part of a run:
	// a host that went down since its last status report is counted
	// unreachable after it, and the task runs there at the next run.
	PeriodicStartTimeout = 30 * time.Second
	// MaxHostsPerRun is the most hosts one run dispatches to itself; a run
	// for more hosts splits them into child runs of at most this many, well
	// under Temporal's default limit of 2000 pending activities per workflow.
	MaxHostsPerRun = 1000
	// maxListed bounds how many hosts a run's result names per outcome.
	maxListed = 20
)

// PeriodicRunResult is the outcome of a periodic task's run over the hosts of
// its topic.
type PeriodicRunResult struct {
	// Hosts is how many hosts the run was for.
	Hosts int `json:"hosts"`
	// Ran, Skipped and Failed count the hosts that ran the task, that
	// skipped it (still running from an earlier run, or off on that host),
	// and on which it failed (with or without raise_on_error).
	Ran     int `json:"ran"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	// Unreachable counts the hosts that did not take the task within
	// PeriodicStartTimeout (down since their last report).
	Unreachable int `json:"unreachable"`
	// Failures names up to 20 hosts where the task failed, with the error.
	Failures []HostError `json:"failures,omitempty"`
	// UnreachableHosts names up to 20 unreachable hosts.
	UnreachableHosts []string `json:"unreachable_hosts,omitempty"`
}

func (r *PeriodicRunResult) add(o PeriodicRunResult) {
	r.Hosts += o.Hosts
	r.Ran += o.Ran
	r.Skipped += o.Skipped
	r.Failed += o.Failed
	r.Unreachable += o.Unreachable
	r.Failures = append(r.Failures, o.Failures[:min(len(o.Failures), maxListed-len(r.Failures))]...)
	r.UnreachableHosts = append(r.UnreachableHosts, o.UnreachableHosts[:min(len(o.UnreachableHosts), maxListed-len(r.UnreachableHosts))]...)
}

// Periodic is the workflow of a periodic task of a topic, registered per task
// as <topic>.periodic.<task> (activities.PeriodicName) on the topic's queue,
// and started by the task's schedule every spacing. It lists the topic's up
// hosts (disabled ones included, as nova runs periodic tasks on disabled
// services) and runs the activity of the same name on each host's queue
// <topic>.<host>, once, all at once: each host runs its own part, so a slow or
// dead host delays only itself. A run that names no hosts first checks,
// once, that its schedule started it (CheckRunName). A failure is not retried; the schedule's next
// run is the next try (as oslo.service's). The run fails when the task failed
// on a host with raise_on_error set (the error names the hosts); the rest is
// in its result.
func Periodic(ctx workflow.Context, req PeriodicRequest) (PeriodicRunResult, error) {
	hosts := req.Hosts
	if len(hosts) == 0 {
		// A schedule's run names no hosts: check once that it is one
		// (CheckRunName). A run for given hosts (by hand, or a part of a
		// larger run) is no schedule's, and its activities need a token.
		var err error
		if ctx, _, err = checkRun(ctx, CheckRunRequest{Periodic: &req}, req.Check, checkRunChange); err != nil {
			return PeriodicRunResult{}, err
		}
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			ScheduleToCloseTimeout: PeriodicStartTimeout,
			RetryPolicy:            retryPolicy(),
		})
		var up UpHostsResult
		err = workflow.ExecuteLocalActivity(lctx, UpHostsName,
			UpHostsRequest{Topic: req.Topic, IncludeDisabled: true}).Get(ctx, &up)
		if err != nil {
			return PeriodicRunResult{}, err
		}
		hosts = up.Hosts
	}
	if len(hosts) > MaxHostsPerRun {
		return periodicChildren(ctx, req, hosts)
	}

	spread, _ := time.ParseDuration(req.Spread)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToStartTimeout: PeriodicStartTimeout,
		StartToCloseTimeout:    PeriodicTaskTimeout + max(spread, 0),
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	name := workflow.GetInfo(ctx).WorkflowType.Name
	futures := make([]workflow.Future, len(hosts))
	for i, host := range hosts {
		hreq := req
		hreq.Hosts, hreq.Host = nil, host
		futures[i] = workflow.ExecuteActivity(workflow.WithTaskQueue(actx, HostQueue(req.Topic, host)), name, hreq)
	}
	res := PeriodicRunResult{Hosts: len(hosts)}
	var raised []string
	for i, f := range futures {
		var hr PeriodicResult
		err := f.Get(ctx, &hr)
		var app *temporal.ApplicationError
		switch {
		case isStartTimeout(err):
			res.Unreachable++
			if len(res.UnreachableHosts) < maxListed {
				res.UnreachableHosts = append(res.UnreachableHosts, hosts[i])
			}
		case err != nil:
			res.Failed++
			he := HostError{Type: UntypedError, Message: hosts[i] + ": " + rootMessage(err)}
			var timeout *temporal.TimeoutError
			switch {
			case errors.As(err, &app) && app.Type() == PeriodicFailedType:
				raised = append(raised, hosts[i])
				// The activity sends the task's error's type as the
				// failure's details.
				var d HostError
				if app.HasDetails() && app.Details(&d) == nil && d.Type != "" {
					he.Type, he.Field = d.Type, d.Field
				}
			case errors.As(err, &timeout):
				he.Type = timeoutType
			case app != nil && app.Type() != "" && (app.NonRetryable() || app.HasDetails()):
				// A typed error (one the framework made of a
				// managers.Error, such as a refusal by the policy); a
				// plain Go error's type is only its Go name. Its details,
				// when it has them, are {"field", "message"}.
				he.Type = app.Type()
				var d HostError
				if app.HasDetails() && app.Details(&d) == nil {
					he.Field = d.Field
				}
			}
			if len(res.Failures) < maxListed {
				res.Failures = append(res.Failures, he)
			}
		case hr.Skipped != "":
			res.Skipped++
		case hr.Error != "":
			res.Failed++
			if len(res.Failures) < maxListed {
				he := HostError{Type: hr.ErrorType, Field: hr.ErrorField, Message: hosts[i] + ": " + hr.Error}
				if he.Type == "" { // a host on a release without error_type
					he.Type = UntypedError
				}
				res.Failures = append(res.Failures, he)
			}
		default:
			res.Ran++
		}
	}
	if len(raised) > 0 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("periodic task %s failed on %d of %d hosts: %s", req.Task, len(raised), len(hosts), listHosts(raised)),
			PeriodicFailedType, nil, res)
	}
	return res, nil
}

// periodicChildren runs a task over more hosts than one run takes, as child
// runs of at most MaxHostsPerRun hosts each, and adds up their results.
func periodicChildren(ctx workflow.Context, req PeriodicRequest, hosts []string) (PeriodicRunResult, error) {
	info := workflow.GetInfo(ctx)
	var futures []workflow.ChildWorkflowFuture
	for part := range slices.Chunk(hosts, MaxHostsPerRun) {
		creq := req
		creq.Hosts = part
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: fmt.Sprintf("%s/part-%d", info.WorkflowExecution.ID, len(futures)+1),
		})
		futures = append(futures, workflow.ExecuteChildWorkflow(cctx, info.WorkflowType.Name, creq))
	}
	var res PeriodicRunResult
	var errs []error
	for _, f := range futures {
		var part PeriodicRunResult
		if err := f.Get(ctx, &part); err != nil {
			var app *temporal.ApplicationError
			if errors.As(err, &app) && app.HasDetails() {
				_ = app.Details(&part)
			}
			errs = append(errs, err)
		}
		res.add(part)
	}
	if len(errs) > 0 {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("periodic task %s failed on some hosts: %v", req.Task, errors.Join(errs...)), PeriodicFailedType, nil, res)
	}
	return res, nil
}

// isStartTimeout says err is an activity's schedule-to-start timeout: its
// host did not take it.
func isStartTimeout(err error) bool {
	var timeout *temporal.TimeoutError
	return errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// rootMessage is the message of the innermost error of an activity failure
// (without the type an application error's Error adds).
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			var app *temporal.ApplicationError
			if errors.As(err, &app) {
				return app.Message()
			}
			return err.Error()
		}
		err = next
	}
}

func listHosts(hosts []string) string {
	if len(hosts) > maxListed {
		return fmt.Sprintf("%v and %d more", hosts[:maxListed], len(hosts)-maxListed)
	}
	return fmt.Sprint(hosts)
}
