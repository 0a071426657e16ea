package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// CheckRunName is the local activity that a status report's run and a
// periodic task's run (without hosts of its own) run once, at their start,
// before anything else: it tells whether the run is the framework's own,
// started by its schedule with the input a service gives it. Every service
// registers it on its topic's queue. Without authorization (NOVAFLOW_AUTH
// off in the service that runs it) it answers at once that nothing was
// checked; with it, the service reads the schedule's record once (its
// runs) and checks the run's own input, which the workflow passes. A run it
// finds is marked (ScheduledRun): the authorization interceptor carries the
// mark, bound to the run's ID, to the run's activities, which then run
// without a token and without asking the schedule themselves. It answers
// only as a local activity (in the worker that runs the workflow's task):
// called as an ordinary activity, it checks nothing.
const CheckRunName = "novaflow.check_run"

// CheckRunRequest is the input of CheckRunName: the run's own input, one of
// the two.
type CheckRunRequest struct {
	Report   *ReportRequest   `json:"report,omitempty"`
	Periodic *PeriodicRequest `json:"periodic,omitempty"`
}

// CheckRunResult is the result of CheckRunName.
type CheckRunResult struct {
	// Schedule is the ID of the schedule that started the run, whose input
	// is the service's own; "" when the run is not such a run, or when the
	// service checked nothing (no authorization).
	Schedule string `json:"schedule,omitempty"`
	// MAC, with Schedule, is the mark's MAC of the run (auth.MarkKeys
	// RunMAC): made with the services' key, which only the service's check
	// has, it is what the run's activities carry in their mark and what a
	// host verifies. It is recorded in the local activity's marker, so the
	// run replays with it.
	MAC string `json:"mac,omitempty"`
}

// checkRunChange is the workflow.GetVersion change ID of the check at the
// start of a run whose input does not say Check (ReportRequest.Check): runs
// recorded before the check replay without it, and those recorded with it
// and that gate (before the services' schedules set Check) replay with it.
// The gate costs a run a Temporal action (the version's search attribute
// upsert), which a run that says Check does not pay.
const checkRunChange = "novaflow.workflows.check-run"

// checkRunTimeout bounds the check, its retries included (it waits up to a
// few seconds for the schedule to record a run it has just started).
const checkRunTimeout = 30 * time.Second

type scheduledRunKey struct{}

// scheduledRun is what a run's check found (CheckRunResult).
type scheduledRun struct{ schedule, mac string }

// checkRun runs CheckRunName for the run's input req and returns ctx marked
// with the schedule that started the run when the check found it (a run
// the check refused, or one of a service without authorization, is not
// marked: its activities need a token, as any caller's). A run whose input
// says check checks with no gate; another goes by change, a
// workflow.GetVersion change ID. It says whether the check ran: not when
// the history was recorded without it (change reads as the default
// version).
func checkRun(ctx workflow.Context, req CheckRunRequest, check bool, change string) (workflow.Context, bool, error) {
	if !check && workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ctx, false, nil
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: checkRunTimeout,
		RetryPolicy:            retryPolicy(),
	})
	var res CheckRunResult
	if err := workflow.ExecuteLocalActivity(lctx, CheckRunName, req).Get(ctx, &res); err != nil {
		return ctx, true, err
	}
	if res.Schedule != "" && res.MAC != "" {
		ctx = workflow.WithValue(ctx, scheduledRunKey{}, scheduledRun{res.Schedule, res.MAC})
	}
	return ctx, true, nil
}

// ScheduledRun returns the ID of the schedule that started the run of ctx
// and the MAC of its mark when the run's check (CheckRunName) found it the
// framework's own, else "", "". The authorization interceptor
// (auth.Enforcer) reads them to mark the activities the run starts.
func ScheduledRun(ctx workflow.Context) (schedule, mac string) {
	r, _ := ctx.Value(scheduledRunKey{}).(scheduledRun)
	return r.schedule, r.mac
}
