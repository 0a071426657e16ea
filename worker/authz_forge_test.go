package worker

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
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
	f := newForgery(t)
	h, host, id, name, queue, forger, hourly := f.h, f.host, f.id, f.name, f.queue, f.forger, f.hourly
	ctx := context.Background()
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
// schedule, with the MAC the workflow holds (forgedMACKey) or a made-up one,
// in the header of each activity and child its workflows start.
type runMarkForger struct{ schedule string }

func (runMarkForger) Inject(context.Context, workflow.HeaderWriter) error { return nil }

func (runMarkForger) Extract(ctx context.Context, _ workflow.HeaderReader) (context.Context, error) {
	return ctx, nil
}

func (f runMarkForger) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	mac, _ := ctx.Value(forgedMACKey{}).(string)
	if mac == "" {
		mac = "AAAA"
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{
		"run_id": workflow.GetInfo(ctx).WorkflowExecution.RunID, "schedule": f.schedule, "mac": mac})
	if err != nil {
		return err
	}
	w.Set(auth.MarkKey, p)
	return nil
}

func (runMarkForger) ExtractToWorkflow(ctx workflow.Context, _ workflow.HeaderReader) (workflow.Context, error) {
	return ctx, nil
}

// TestForgedCheckRefused: a namespace writer edits the periodic schedule's
// action to start its runs on a queue of its own, where a worker of its own
// runs them (the run is the schedule's, with the service's own input), and
// has the run call the check (novaflow.check_run) as an ordinary activity
// on the topic's queue, where the services run it, to take its MAC for the
// mark of an activity of the task on a host. The check answers only as a
// local activity, which runs in the worker of the workflow task, so the
// writer's worker gets no MAC, and the task never runs.
func TestForgedCheckRefused(t *testing.T) {
	t.Parallel()
	f := newForgery(t)
	h, host, id, name, queue, forger, hourly := f.h, f.host, f.id, f.name, f.queue, f.forger, f.hourly
	ctx := context.Background()
	w := sdkworker.New(forger, queue, sdkworker.Options{})
	var gotMAC atomic.Bool
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, req workflows.PeriodicRequest) error {
		cctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: h.topic, StartToCloseTimeout: time.Minute})
		var res workflows.CheckRunResult
		if err := workflow.ExecuteActivity(cctx, workflows.CheckRunName, workflows.CheckRunRequest{Periodic: &req}).Get(ctx, &res); err != nil {
			return err
		}
		if res.MAC != "" {
			gotMAC.Store(true)
		}
		ctx = workflow.WithValue(ctx, forgedMACKey{}, res.MAC)
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue: workflows.HostQueue(h.topic, host), ScheduleToStartTimeout: 30 * time.Second, StartToCloseTimeout: time.Minute,
		})
		req.Host = host
		return workflow.ExecuteActivity(actx, name, req).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: name})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	err := h.c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sched := in.Description.Schedule
		sched.Action.(*client.ScheduleWorkflowAction).TaskQueue = queue
		return &client.ScheduleUpdate{Schedule: &sched}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	wid, rid := h.triggerRun(id)
	err = h.c.GetWorkflow(ctx, wid, rid).Get(ctx, nil)
	if gotMAC.Load() {
		t.Error("the check, run as an ordinary activity for the writer's worker, gave it a MAC")
	}
	if err == nil || !(strings.Contains(err.Error(), policy.UnauthenticatedType) || strings.Contains(err.Error(), policy.DeniedType)) {
		t.Errorf("the writer's run of the schedule: %v, want its host's part refused", err)
	}
	if n := hourly.count(); n != 0 {
		t.Errorf("the task ran %d times in the writer's run", n)
	}
}

// forgedMACKey holds, in a forger's workflow, the MAC runMarkForger writes.
type forgedMACKey struct{}

// forgery is what the forgery tests share: a service with authorization on
// and an hourly periodic task (hourly counts its runs), the task's
// schedule ID and workflow type, and a namespace writer's client, whose
// workflows mark what they start as runMarkForger does, with a queue of
// its own.
type forgery struct {
	h                     *harness
	host, id, name, queue string
	hourly                *runLog
	forger                client.Client
}

func newForgery(t *testing.T) *forgery {
	f := &forgery{h: newHarness(t), host: testenv.UniqueName(t, "host"), hourly: &runLog{}}
	h := f.h
	h.start(authConfig(t, h.config(f.host)), f.hourly.task("hourly", time.Hour, nil))
	eventually(t, 30*time.Second, "the host up", func() bool {
		st, _ := h.status(f.host, 10*time.Second)
		return st == servicegroup.Up
	})
	f.id = PeriodicScheduleID(h.topic, "hourly")
	f.name = workflows.PeriodicName(h.topic, "hourly")
	forger, err := client.Dial(client.Options{HostPort: h.tmp.Address(), Namespace: h.tmp.Namespace(),
		ContextPropagators: []workflow.ContextPropagator{runMarkForger{schedule: f.id}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(forger.Close)
	f.forger = forger
	f.queue = testenv.UniqueName(t, "forger")
	return f
}
