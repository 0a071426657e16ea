package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DefaultReportTimeout bounds a status report started without a run timeout
// (by hand, with `temporal workflow start`).
const DefaultReportTimeout = 10 * time.Second

// ReportRunResult is what one run of a topic's status report did: how many
// reports it made, how many failed, and the last report.
type ReportRunResult struct {
	Reports int          `json:"reports"`
	Failed  int          `json:"failed,omitempty"`
	Last    ReportResult `json:"last"`
	// LastError is the error of the last failed report.
	LastError string `json:"last_error,omitempty"`
}

// ReportState is the status report of a topic, registered per topic as
// <topic>.report_state (activities.ReportStateName) on the topic's queue and
// started by the topic's report schedule. A run reports every req.Every until
// req.For has passed, and the schedule starts the next run when it ends: the
// Web UI shows one run per topic every ten minutes, not one per report, and
// a report costs a timer and a marker instead of a schedule's start. Started
// without them (by hand), a run reports once.
//
// Each report is one local activity of the same name, which reads from
// Temporal which services of the topic are alive (the worker heartbeats
// their SDKs send) and writes them all in the services table: one short
// workflow task per report and topic, however many hosts the topic has. A
// dead service sends no heartbeats, so it goes down by nova's is_up rule. On
// a server that keeps no worker heartbeats, the local activity returns the
// topic's hosts instead, and the workflow asks each of them with activity
// ReportAliveName on its host queue; the hosts that answer within
// half an interval are alive, and a second local activity writes them.
//
// The run first checks, once, that its schedule started it with the
// service's own input (CheckRunName). A report is tried once; the next one
// is the retry. A failed report is
// logged by the service that ran it and counted in the run's result; a run
// whose every report failed fails (red in the Web UI).
func ReportState(ctx workflow.Context, req ReportRequest) (ReportRunResult, error) {
	info := workflow.GetInfo(ctx)
	every, _ := time.ParseDuration(req.Every)
	length, _ := time.ParseDuration(req.For)
	timeout := every
	if every <= 0 || length <= 0 {
		timeout = info.WorkflowRunTimeout
		if timeout <= 0 {
			timeout = DefaultReportTimeout
		}
	}
	var run ReportRunResult
	var lastErr error
	end := workflow.Now(ctx).Add(length)
	checked, recorded := false, true
	for n := 0; ; n++ {
		next := workflow.Now(ctx).Add(every)
		var res ReportResult
		var err error
		if !checked {
			// Once per run (CheckRunName). A check that failed (the
			// schedule could not be read) counts as a failed report and is
			// tried again at the next. A run an earlier build started
			// without the check (recorded false) checks at its first
			// report on this build: a change ID of its own per report
			// reads as not recorded while its history replays, and as
			// recorded at the first report played for the first time.
			change := checkRunChange
			if !recorded {
				change = fmt.Sprintf("%s/%d", checkRunChange, n)
			}
			var cctx workflow.Context
			var ran bool
			if cctx, ran, err = checkRun(ctx, CheckRunRequest{Report: &req}, req.Check, change); err == nil {
				ctx, checked = cctx, ran
				recorded = recorded && (ran || n > 0)
			}
		}
		if err == nil {
			res, err = reportOnce(ctx, info.WorkflowType.Name, req, timeout)
		}
		run.Reports++
		if err != nil {
			run.Failed++
			run.LastError, lastErr = err.Error(), err
		} else {
			run.Last = res
		}
		if every <= 0 || length <= 0 || !next.Before(end) {
			break
		}
		if err := workflow.Sleep(ctx, next.Sub(workflow.Now(ctx))); err != nil {
			return run, err
		}
	}
	if run.Failed == run.Reports {
		return run, lastErr
	}
	return run, nil
}

// reportOnce is one status report.
func reportOnce(ctx workflow.Context, name string, req ReportRequest, timeout time.Duration) (ReportResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: timeout,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res ReportResult
	err := workflow.ExecuteLocalActivity(lctx, name, req).Get(ctx, &res)
	if err != nil || len(res.AskHosts) == 0 {
		return res, err
	}

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToStartTimeout: timeout / 2,
		StartToCloseTimeout:    timeout / 2,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	futures := make([]workflow.Future, len(res.AskHosts))
	for i, host := range res.AskHosts {
		hctx := workflow.WithTaskQueue(actx, HostQueue(req.Topic, host))
		futures[i] = workflow.ExecuteActivity(hctx, ReportAliveName(req.Topic))
	}
	req.Asked, req.Alive = true, nil
	for _, f := range futures {
		var a Alive
		if f.Get(ctx, &a) == nil {
			req.Alive = append(req.Alive, a)
		}
	}
	err = workflow.ExecuteLocalActivity(lctx, name, req).Get(ctx, &res)
	return res, err
}
