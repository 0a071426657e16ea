package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
)

// DefaultReportTimeout bounds a status report started without a run timeout
// (by hand, with `temporal workflow start`).
const DefaultReportTimeout = 10 * time.Second

// ReportState is the status report workflow, registered per topic as
// <topic>.report_state (activities.ReportStateName) on the host queue
// <topic>.<host> only, and started every report_interval by the service's
// report schedule. It runs the local activity of the same name, which writes
// the report in the services table, in its first workflow task: one short
// workflow per report, on the host whose liveness it proves. A dead host
// polls no queue, so its report cannot run and the service goes down by
// nova's is_up rule.
//
// The report is tried once within the run's timeout; a failure fails the run
// (visible in the Web UI) and the schedule's next run is the retry.
func ReportState(ctx workflow.Context, req activities.ReportRequest) (activities.ReportResult, error) {
	info := workflow.GetInfo(ctx)
	timeout := info.WorkflowRunTimeout
	if timeout <= 0 {
		timeout = DefaultReportTimeout
	}
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: timeout,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res activities.ReportResult
	err := workflow.ExecuteLocalActivity(ctx, info.WorkflowType.Name, req).Get(ctx, &res)
	return res, err
}
