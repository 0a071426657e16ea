package workflows_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/workflows"
)

// checks registers the check of a framework run (workflows.CheckRunName)
// in env, answering with the results of answer in turn (the last one
// again when they run out, {} for none), and returns the requests it got.
func checks(t *testing.T, env *testsuite.TestWorkflowEnvironment, answer ...error) *[]workflows.CheckRunRequest {
	var got []workflows.CheckRunRequest
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.CheckRunRequest) (workflows.CheckRunResult, error) {
		if !activity.GetInfo(ctx).IsLocalActivity {
			t.Error("the run's check is not a local activity")
		}
		got = append(got, req)
		var err error
		if len(answer) > 0 {
			err = answer[min(len(got), len(answer))-1]
		}
		return workflows.CheckRunResult{}, err
	}, activity.RegisterOptions{Name: workflows.CheckRunName})
	return &got
}

// A report whose check fails (its schedule could not be read, past the
// local activity's retries) counts the report failed and checks again before the next one; once it answered,
// the run checks no more.
func TestReportStateChecksAgainAfterAFailedCheck(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.ReportStateName("wftest")
	env.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
	checked := checks(t, env, temporal.NewNonRetryableApplicationError("schedule unavailable", "Unavailable", nil), nil)
	reports := 0
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
		reports++
		return workflows.ReportResult{Seen: 1, Reported: 1}, nil
	}, activity.RegisterOptions{Name: name})
	in := workflows.ReportRequest{Topic: "wftest", Every: "10s", For: "40s"}
	env.ExecuteWorkflow(name, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.ReportRunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(*checked) != 2 {
		t.Fatalf("checked %d times, want twice: the failed check tried again at the second report, then no more", len(*checked))
	}
	for _, c := range *checked {
		if c.Report == nil || !reflect.DeepEqual(*c.Report, in) || c.Periodic != nil {
			t.Errorf("checked %+v, want the run's input %+v", c, in)
		}
	}
	if res.Reports != 4 || res.Failed != 1 || reports != 3 {
		t.Errorf("result = %+v after %d reports made, want 4 reports, the first failed by its check", res, reports)
	}
}

// A report run that an earlier build started without the check (its
// history holds no marker of change novaflow.workflows.check-run) checks
// itself at its next report on this build, once, and not before.
func TestReportStateRecordedWithoutCheckChecksLate(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.ReportStateName("wftest")
	env.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
	env.OnGetVersion("novaflow.workflows.check-run", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	// Report 1 (n=1) is, here, the first one played on this build.
	env.OnGetVersion("novaflow.workflows.check-run/1", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	checked := checks(t, env)
	reports := 0
	var checkedAt []int
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
		reports++
		checkedAt = append(checkedAt, len(*checked))
		return workflows.ReportResult{Seen: 1, Reported: 1}, nil
	}, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(name, workflows.ReportRequest{Topic: "wftest", Every: "10s", For: "50s"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if want := []int{0, 0, 1, 1, 1}; !reflect.DeepEqual(checkedAt, want) {
		t.Errorf("checks made before each report: %v, want %v (checked once, before the third report)", checkedAt, want)
	}
}

// A run whose input says Check (the services' schedules set it) checks
// itself at its start with no workflow.GetVersion gate, which would cost
// it a Temporal action; a run without it goes by the gate, and one recorded
// without the check (the gate reads as the default version) checks nothing.
func TestCheckWithoutVersionGate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		check     bool
		wantGate  bool
		wantCheck int
	}{
		{"its input says check", true, false, 1},
		{"no check in its input, recorded without the check", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			name := workflows.PeriodicName("wftest", "tick")
			env.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
			gated := false
			env.OnGetVersion("novaflow.workflows.check-run", workflow.DefaultVersion, 1).
				Run(func(mock.Arguments) { gated = true }).Return(workflow.DefaultVersion)
			checked := checks(t, env)
			env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
				return workflows.UpHostsResult{Hosts: []string{"a"}}, nil
			}, activity.RegisterOptions{Name: workflows.UpHostsName})
			env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
				return workflows.PeriodicResult{}, nil
			}, activity.RegisterOptions{Name: name})
			env.ExecuteWorkflow(name, workflows.PeriodicRequest{Topic: "wftest", Task: "tick", Check: tc.check})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if gated != tc.wantGate || len(*checked) != tc.wantCheck {
				t.Errorf("GetVersion called: %v, checks: %d; want %v, %d", gated, len(*checked), tc.wantGate, tc.wantCheck)
			}
		})
	}
}
