package worker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

// TestForgedMarkRefused: a namespace writer runs a worker of its own (a
// plain SDK worker outside novaflow) on a queue of its own, registers a
// workflow type named as a topic's periodic task, and starts it. The run
// writes the mark (auth.MarkKey) naming its own run ID, which is of a
// framework type: first on an activity of the task that it schedules onto
// a host's queue, then on the start of a child run of the same type on the
// topic's queue, naming itself as the parent. Neither passes: the mark's
// MAC needs the services' key, which only the check of a run its schedule
// started gives, and the task never runs.
func TestForgedMarkRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	host := testenv.UniqueName(t, "host")
	var hourly runLog
	h.start(authConfig(t, h.config(host)), hourly.task("hourly", time.Hour, nil))
	eventually(t, 30*time.Second, "the host up", func() bool {
		st, _ := h.status(host, 10*time.Second)
		return st == servicegroup.Up
	})

	id := PeriodicScheduleID(h.topic, "hourly")
	name := workflows.PeriodicName(h.topic, "hourly")
	forger, err := client.Dial(client.Options{HostPort: h.tmp.Address(), Namespace: h.tmp.Namespace(),
		ContextPropagators: []workflow.ContextPropagator{runMarkForger{schedule: id}}})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	queue := testenv.UniqueName(t, "forger")
	w := sdkworker.New(forger, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, child bool) error {
		if child {
			// A child of the task's type on the topic's queue, for the
			// host: the service runs it.
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "/part-1", TaskQueue: h.topic})
			var res workflows.PeriodicRunResult
			if err := workflow.ExecuteChildWorkflow(cctx, name, workflows.PeriodicRequest{Topic: h.topic, Task: "hourly", Hosts: []string{host}}).Get(ctx, &res); err != nil {
				return err
			}
			if res.Ran != 0 || res.Failed != 1 {
				return fmt.Errorf("the forged child run: %+v, want its host's part refused", res)
			}
			return fmt.Errorf("%s", res.Failures[0].Message)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue: workflows.HostQueue(h.topic, host), ScheduleToStartTimeout: 30 * time.Second, StartToCloseTimeout: time.Minute,
		})
		return workflow.ExecuteActivity(actx, name, workflows.PeriodicRequest{Topic: h.topic, Task: "hourly", Host: host}).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: name})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	for _, child := range []bool{false, true} {
		run, err := forger.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: testenv.UniqueName(t, id), TaskQueue: queue,
			WorkflowExecutionTimeout: 2 * time.Minute}, name, child)
		if err != nil {
			t.Fatal(err)
		}
		err = run.Get(ctx, nil)
		if err == nil || !(strings.Contains(err.Error(), policy.UnauthenticatedType) || strings.Contains(err.Error(), policy.DeniedType) ||
			strings.Contains(err.Error(), "carries no token")) {
			t.Errorf("a forged run's mark (child %v): %v, want its host's part refused", child, err)
		}
	}
	if n := hourly.count(); n != 0 {
		t.Errorf("the task ran %d times in forged runs", n)
	}
}

// runMarkForger writes auth.MarkKey, naming the run that writes it and
// schedule, in the header of each activity and child its workflows start.
type runMarkForger struct{ schedule string }

func (runMarkForger) Inject(context.Context, workflow.HeaderWriter) error { return nil }

func (runMarkForger) Extract(ctx context.Context, _ workflow.HeaderReader) (context.Context, error) {
	return ctx, nil
}

func (f runMarkForger) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{
		"run_id": workflow.GetInfo(ctx).WorkflowExecution.RunID, "schedule": f.schedule, "mac": "AAAA"})
	if err != nil {
		return err
	}
	w.Set(auth.MarkKey, p)
	return nil
}

func (runMarkForger) ExtractToWorkflow(ctx workflow.Context, _ workflow.HeaderReader) (workflow.Context, error) {
	return ctx, nil
}
