package workflows_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/workflows"
)

func TestReportStateRunsItsLocalActivity(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.ReportStateName("wftest")
	if name != "wftest.report_state" {
		t.Fatalf("ReportStateName = %q", name)
	}
	env.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
	checks(t, env)
	want := workflows.ReportRequest{Topic: "wftest"}
	var gotTimeout time.Duration
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
		if req.Topic != want.Topic || req.Asked {
			t.Errorf("report request = %+v, want %+v", req, want)
		}
		if !activity.GetInfo(ctx).IsLocalActivity {
			t.Error("the report is not a local activity")
		}
		gotTimeout = activity.GetInfo(ctx).ScheduleToCloseTimeout
		return workflows.ReportResult{Source: "heartbeats", Seen: 3, Reported: 3}, nil
	}, activity.RegisterOptions{Name: name})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{WorkflowRunTimeout: 3 * time.Second})
	env.ExecuteWorkflow(name, want)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.ReportRunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Reports != 1 || res.Last.Seen != 3 || res.Last.Reported != 3 {
		t.Errorf("result = %+v, want one report that saw 3", res)
	}
	if gotTimeout != 3*time.Second {
		t.Errorf("local activity timeout = %s, want the run timeout 3s", gotTimeout)
	}
}

// Without worker heartbeats the local activity names the hosts to ask; the
// workflow asks each on its host queue and writes those that answered.
func TestReportStateAsksEachHostWithoutHeartbeats(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.ReportStateName("wftest")
	env.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
	checks(t, env)
	var second workflows.ReportRequest
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
		if !req.Asked {
			return workflows.ReportResult{Source: "activities", AskHosts: []string{"h1", "h2", "dead"}}, nil
		}
		second = req
		return workflows.ReportResult{Source: "activities", Seen: len(req.Alive), Reported: len(req.Alive)}, nil
	}, activity.RegisterOptions{Name: name})
	env.RegisterActivityWithOptions(func(ctx context.Context) (workflows.Alive, error) {
		q := activity.GetInfo(ctx).TaskQueue
		if q == "wftest.dead" {
			return workflows.Alive{}, temporal.NewTimeoutError(0, nil)
		}
		return workflows.Alive{Host: q[len("wftest."):], Binary: "novaflow-wftest"}, nil
	}, activity.RegisterOptions{Name: workflows.ReportAliveName("wftest")})
	env.ExecuteWorkflow(name, workflows.ReportRequest{Topic: "wftest"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var hosts []string
	for _, a := range second.Alive {
		hosts = append(hosts, a.Host)
	}
	slices.Sort(hosts)
	if !second.Asked || !slices.Equal(hosts, []string{"h1", "h2"}) {
		t.Fatalf("second report = %+v, want h1 and h2 alive", second)
	}
}

// A scheduled run reports every Every until For has passed; a failed report
// is counted, and the next one is its retry.
func TestReportStateReportsEveryIntervalOfItsRun(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.ReportStateName("wftest")
	env.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
	checked := checks(t, env)
	var at []time.Duration
	var start time.Time
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
		now := env.Now()
		if start.IsZero() {
			start = now
		}
		at = append(at, now.Sub(start))
		if len(at) == 2 {
			return workflows.ReportResult{}, errors.New("database restarting")
		}
		return workflows.ReportResult{Seen: 1, Reported: 1}, nil
	}, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(name, workflows.ReportRequest{Topic: "wftest", Every: "10s", For: "1m"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.ReportRunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second}
	if !slices.Equal(at, want) {
		t.Errorf("reports at %v, want %v", at, want)
	}
	if res.Reports != 6 || res.Failed != 1 || res.LastError == "" || res.Last.Seen != 1 {
		t.Errorf("result = %+v, want 6 reports, 1 failed", res)
	}
	if want := (workflows.ReportRequest{Topic: "wftest", Every: "10s", For: "1m"}); len(*checked) != 1 || (*checked)[0].Report == nil || !reflect.DeepEqual(*(*checked)[0].Report, want) {
		t.Errorf("checked %+v, want once, with the run's input", *checked)
	}
}

func TestReportStateFailsOnceWithoutRetry(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.ReportStateName("wftest")
	env.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
	checks(t, env)
	calls := 0
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.ReportRequest) (workflows.ReportResult, error) {
		calls++
		return workflows.ReportResult{}, errors.New("connection refused")
	}, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(name, workflows.ReportRequest{Topic: "wftest"})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("workflow error = %v, want an application error", err)
	}
	if calls != 1 {
		t.Errorf("report tried %d times, want 1 (the schedule's next run is the retry)", calls)
	}
}
