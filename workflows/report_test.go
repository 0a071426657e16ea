package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
)

func TestReportStateRunsItsLocalActivity(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := activities.ReportStateName("compute")
	if name != "compute.report_state" {
		t.Fatalf("ReportStateName = %q", name)
	}
	env.RegisterWorkflowWithOptions(ReportState, workflow.RegisterOptions{Name: name})
	want := activities.ReportRequest{Host: "h1", Binary: "novaflow-compute", Topic: "compute"}
	seen := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var gotTimeout time.Duration
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.ReportRequest) (activities.ReportResult, error) {
		if req != want {
			t.Errorf("report request = %+v, want %+v", req, want)
		}
		if !activity.GetInfo(ctx).IsLocalActivity {
			t.Error("the report is not a local activity")
		}
		gotTimeout = activity.GetInfo(ctx).ScheduleToCloseTimeout
		return activities.ReportResult{ReportCount: 7, LastSeenUp: seen}, nil
	}, activity.RegisterOptions{Name: name})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{WorkflowRunTimeout: 3 * time.Second})
	env.ExecuteWorkflow(name, want)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res activities.ReportResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.ReportCount != 7 || !res.LastSeenUp.Equal(seen) {
		t.Errorf("result = %+v", res)
	}
	if gotTimeout != 3*time.Second {
		t.Errorf("local activity timeout = %s, want the run timeout 3s", gotTimeout)
	}
}

func TestReportStateFailsOnceWithoutRetry(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := activities.ReportStateName("compute")
	env.RegisterWorkflowWithOptions(ReportState, workflow.RegisterOptions{Name: name})
	calls := 0
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.ReportRequest) (activities.ReportResult, error) {
		calls++
		return activities.ReportResult{}, errors.New("connection refused")
	}, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(name, activities.ReportRequest{Host: "h1", Binary: "novaflow-compute", Topic: "compute"})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("workflow error = %v, want an application error", err)
	}
	if calls != 1 {
		t.Errorf("report tried %d times, want 1 (the schedule's next run is the retry)", calls)
	}
}
