package workflows

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
)

func TestPeriodic(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		run        error
		raise      bool
		wantErr    bool
		wantResult string
	}{
		{name: "success", run: nil},
		{name: "failure logged", run: boom, wantResult: "boom"},
		{name: "failure raised", run: boom, raise: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			name := activities.PeriodicName("compute", "sync_power_states")
			if name != "compute.periodic.sync_power_states" {
				t.Fatalf("PeriodicName = %q", name)
			}
			calls := 0
			task := managers.PeriodicTask{
				Name:         "sync_power_states",
				RaiseOnError: tt.raise,
				Run: func(ctx context.Context) error {
					calls++
					if activity.GetInfo(ctx).HeartbeatTimeout != PeriodicHeartbeatTimeout {
						t.Errorf("heartbeat timeout = %s", activity.GetInfo(ctx).HeartbeatTimeout)
					}
					return tt.run
				},
			}
			env.RegisterWorkflowWithOptions(Periodic, workflow.RegisterOptions{Name: name})
			env.RegisterActivityWithOptions(activities.Periodic(task, slog.New(slog.DiscardHandler)), activity.RegisterOptions{Name: name})
			env.ExecuteWorkflow(name, activities.PeriodicRequest{Topic: "compute", Host: "h1", Task: "sync_power_states"})
			if calls != 1 {
				t.Errorf("task ran %d times, want 1", calls)
			}
			err := env.GetWorkflowError()
			if tt.wantErr {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != activities.PeriodicFailedType {
					t.Fatalf("workflow error = %v, want a %s application error", err, activities.PeriodicFailedType)
				}
				return
			}
			if err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var res activities.PeriodicResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Error != tt.wantResult || res.Duration == "" {
				t.Errorf("result = %+v, want error %q", res, tt.wantResult)
			}
		})
	}
}
