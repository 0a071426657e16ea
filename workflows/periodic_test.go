package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/workflows"
)

// A run runs the task once on each host, on that host's queue, and counts the
// outcomes; a failure with raise_on_error fails the run, naming the host.
// Each failure in the result carries the task's error's type: a typed
// error's Type and Field, the Go error's kind, or "Error" for a bare message.
func TestPeriodic(t *testing.T) {
	boom := errors.New("boom")
	bad := managers.InvalidArgument("flavor", "no such flavor")
	missing := fmt.Errorf("read state: %w", &fs.PathError{Op: "open", Path: "state", Err: fs.ErrNotExist})
	tests := []struct {
		name      string
		failOn    string // host whose run fails
		fail      error  // with this error (default boom)
		raise     bool
		wantErr   bool
		want      workflows.PeriodicRunResult
		wantType  string
		wantField string
	}{
		{name: "success", want: workflows.PeriodicRunResult{Hosts: 3, Ran: 3}},
		{name: "failure logged", failOn: "h2", want: workflows.PeriodicRunResult{Hosts: 3, Ran: 2, Failed: 1}, wantType: "Error"},
		{name: "typed failure logged", failOn: "h2", fail: bad, want: workflows.PeriodicRunResult{Hosts: 3, Ran: 2, Failed: 1},
			wantType: managers.InvalidArgumentType, wantField: "flavor"},
		{name: "Go error logged", failOn: "h2", fail: missing, want: workflows.PeriodicRunResult{Hosts: 3, Ran: 2, Failed: 1},
			wantType: "*fs.PathError"},
		{name: "failure raised", failOn: "h2", raise: true, wantErr: true, want: workflows.PeriodicRunResult{Hosts: 3, Ran: 2, Failed: 1},
			wantType: "Error"},
		{name: "typed failure raised", failOn: "h2", fail: bad, raise: true, wantErr: true,
			want: workflows.PeriodicRunResult{Hosts: 3, Ran: 2, Failed: 1}, wantType: managers.InvalidArgumentType, wantField: "flavor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			name := workflows.PeriodicName("wftest", "sync_power_states")
			if name != "wftest.periodic.sync_power_states" {
				t.Fatalf("PeriodicName = %q", name)
			}
			var mu sync.Mutex
			queues := map[string]int{}
			var hostErr error // the activity's error on failOn
			task := managers.PeriodicTask{
				Name:         "sync_power_states",
				RaiseOnError: tt.raise,
				Run: func(ctx context.Context) error {
					q := activity.GetInfo(ctx).TaskQueue
					mu.Lock()
					queues[q]++
					mu.Unlock()
					if q == "wftest."+tt.failOn {
						if tt.fail != nil {
							return tt.fail
						}
						return boom
					}
					return nil
				},
			}
			env.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
			checked := checks(t, env)
			// One activity per host, as each host's worker registers its own:
			// the skip-if-running guard is per host.
			env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
				if q := activity.GetInfo(ctx).TaskQueue; q != "wftest."+req.Host {
					t.Errorf("the part of host %s ran on queue %s", req.Host, q)
				}
				res, err := activities.Periodic(task, slog.New(slog.DiscardHandler), nil, nil)(ctx, req)
				if err != nil {
					mu.Lock()
					hostErr = err
					mu.Unlock()
				}
				return res, err
			}, activity.RegisterOptions{Name: name})
			env.ExecuteWorkflow(name, workflows.PeriodicRequest{Topic: "wftest", Task: "sync_power_states", Hosts: []string{"h1", "h2", "h3"}})
			if len(*checked) != 0 {
				t.Errorf("a run for given hosts checked %+v: it is no schedule's", *checked)
			}
			for _, h := range []string{"h1", "h2", "h3"} {
				if queues["wftest."+h] != 1 {
					t.Errorf("task ran %d times on %s, want 1 (runs: %v)", queues["wftest."+h], h, queues)
				}
			}
			err := env.GetWorkflowError()
			var res workflows.PeriodicRunResult
			if tt.wantErr {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != workflows.PeriodicFailedType || !strings.Contains(appErr.Error(), "h2") {
					t.Fatalf("workflow error = %v, want a %s application error naming h2", err, workflows.PeriodicFailedType)
				}
				if err := appErr.Details(&res); err != nil {
					t.Fatalf("details of the run's error: %v", err)
				}
				// What the Web UI and `temporal workflow show` print of the
				// host's activity: its failure's cause has the task's
				// error's type.
				var app, cause *temporal.ApplicationError
				if !errors.As(hostErr, &app) || !errors.As(app.Unwrap(), &cause) || cause.Type() != tt.wantType {
					t.Errorf("failure of the host's activity = %v, want a cause of type %q", hostErr, tt.wantType)
				}
			} else if err != nil {
				t.Fatalf("workflow failed: %v", err)
			} else if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Hosts != tt.want.Hosts || res.Ran != tt.want.Ran || res.Failed != tt.want.Failed || res.Skipped != 0 || res.Unreachable != 0 {
				t.Errorf("result = %+v, want %+v", res, tt.want)
			}
			if tt.failOn == "" {
				return
			}
			fail := tt.fail
			if fail == nil {
				fail = boom
			}
			if len(res.Failures) != 1 || res.Failures[0].Message != tt.failOn+": "+fail.Error() ||
				res.Failures[0].Type != tt.wantType || res.Failures[0].Field != tt.wantField {
				t.Errorf("failures = %+v, want %s: %v of type %q, field %q", res.Failures, tt.failOn, fail, tt.wantType, tt.wantField)
			}
		})
	}
}

// With no hosts given, a run lists the topic's up hosts, disabled ones
// included, through the local activity novaflow.up_hosts.
func TestPeriodicListsUpHostsWithDisabled(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.PeriodicName("wftest", "tick")
	env.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
	checked := checks(t, env)
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
		if !activity.GetInfo(ctx).IsLocalActivity || !req.IncludeDisabled || req.Topic != "wftest" {
			t.Errorf("up hosts asked as %+v (local %t), want a local activity including disabled hosts", req, activity.GetInfo(ctx).IsLocalActivity)
		}
		return workflows.UpHostsResult{Hosts: []string{"a", "b"}}, nil
	}, activity.RegisterOptions{Name: workflows.UpHostsName})
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
		return workflows.PeriodicResult{Duration: "1ms"}, nil
	}, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(name, workflows.PeriodicRequest{Topic: "wftest", Task: "tick"})
	var res workflows.PeriodicRunResult
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if err := env.GetWorkflowResult(&res); err != nil || res.Hosts != 2 || res.Ran != 2 {
		t.Fatalf("result = %+v, %v; want 2 hosts ran", res, err)
	}
	if len(*checked) != 1 || (*checked)[0].Periodic == nil || (*checked)[0].Periodic.Task != "tick" || (*checked)[0].Periodic.Topic != "wftest" {
		t.Errorf("checked %+v, want once, with the run's input", *checked)
	}
}

// A host that does not take its part within workflows.PeriodicStartTimeout is counted
// unreachable; the run succeeds.
func TestPeriodicCountsUnreachableHosts(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	name := workflows.PeriodicName("wftest", "tick")
	env.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
	env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
		if req.Host == "dead" {
			return workflows.PeriodicResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}
		return workflows.PeriodicResult{Skipped: activities.SkippedRunning}, nil
	}, activity.RegisterOptions{Name: name})
	env.ExecuteWorkflow(name, workflows.PeriodicRequest{Topic: "wftest", Task: "tick", Hosts: []string{"busy", "dead"}})
	var res workflows.PeriodicRunResult
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if err := env.GetWorkflowResult(&res); err != nil || res.Skipped != 1 || res.Unreachable != 1 || len(res.UnreachableHosts) != 1 || res.UnreachableHosts[0] != "dead" {
		t.Fatalf("result = %+v, %v; want busy skipped and dead unreachable", res, err)
	}
}
