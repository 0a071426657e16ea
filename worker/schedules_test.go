package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workerpb "go.temporal.io/api/worker/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

// TestStatusReportsMoveLastSeenUp: the topic's report schedule runs every
// report_interval on the topic's queue and moves last_seen_up and
// report_count of its service from its worker heartbeats; its runs are found
// by search attributes.
func TestStatusReportsMoveLastSeenUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	cfg := h.config(host)
	h.start(cfg)

	took := eventually(t, 10*time.Second, "the first report", func() bool {
		r := h.record(host)
		return r != nil && r.ReportCount >= 1 && r.HeartbeatAt != nil
	})
	t.Logf("first report %s after start", took.Round(time.Millisecond))
	first := h.record(host)
	took = eventually(t, 15*time.Second, "three more reports", func() bool {
		r := h.record(host)
		return r.ReportCount >= first.ReportCount+3 && r.LastSeenUp.After(*first.LastSeenUp) && r.HeartbeatAt.After(*first.HeartbeatAt)
	})
	t.Logf("three reports in %s at report_interval 1s", took.Round(time.Millisecond))
	st, r := h.status(host, cfg.DownTime())
	if st != servicegroup.Up {
		t.Errorf("a service seen at every report is %s", st)
	}
	if o := r.Observer; o == nil || o.Source != servicegroup.SourceHeartbeats || o.Seen != 1 {
		t.Errorf("the topic's observer is %+v, want reports from worker heartbeats that saw 1 service", o)
	}

	d := h.describe(ReportScheduleID(h.topic))
	if d == nil {
		t.Fatal("no report schedule")
	}
	if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != ReportRunLength {
		t.Errorf("report intervals = %+v, want a run every %s", iv, ReportRunLength)
	}
	if d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE {
		t.Errorf("overlap = %v, want buffer-one", d.Schedule.Policy.Overlap)
	}
	a := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if a.Workflow != h.topic+".report_state" || a.TaskQueue != h.topic {
		t.Errorf("action runs %v on %s, want %s.report_state on the topic's queue", a.Workflow, a.TaskQueue, h.topic)
	}
	var req workflows.ReportRequest
	if err := converter.GetDefaultDataConverter().FromPayload(a.Args[0].(*commonpb.Payload), &req); err != nil || req.Every != "1s" || req.Topic != h.topic {
		t.Errorf("report input %+v, %v; want reports every 1s", req, err)
	}
	if d.Schedule.State.Paused || len(d.Info.RunningWorkflows) != 1 {
		t.Errorf("report schedule paused %t with %d runs going, want one run going", d.Schedule.State.Paused, len(d.Info.RunningWorkflows))
	}
	eventually(t, 10*time.Second, "the report run found by search attributes", func() bool {
		return h.runs(h.topic+".report_state", "")["Running"] == 1
	})

	// A service that starts when the report has no run going starts one.
	run := d.Info.RunningWorkflows[0]
	if err := h.c.TerminateWorkflow(context.Background(), run.WorkflowID, run.FirstExecutionRunID, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the schedule to see its run ended", func() bool {
		return len(h.describe(ReportScheduleID(h.topic)).Info.RunningWorkflows) == 0
	})
	svc := h.start(h.config(testenv.UniqueName(t, "host")))
	if n := svc.logs.count("level=INFO", "schedule triggered", "schedule="+ReportScheduleID(h.topic)); n != 1 {
		t.Errorf("the report schedule with no run going was triggered %d times at a start, want once", n)
	}
	reports := h.record(host).ReportCount
	eventually(t, 10*time.Second, "reports in the new run", func() bool { return h.record(host).ReportCount >= reports+2 })
}

// TestLivenessOfTwoServices runs two services of one topic in one process on
// one Temporal client, as `novaflow dev` does, and follows their liveness as
// `novaflow service list` shows it: both up; a deleted row is recreated by
// the next report; a forced-down service is down while its heartbeats go on
// being counted; a service stopped gracefully (the one that runs the
// topic's report run) is down once service_down_time has passed since its
// last heartbeat, and no report counts it again; the other one takes the
// report run over and is up throughout.
func TestLivenessOfTwoServices(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.config(testenv.UniqueName(t, "a")), h.config(testenv.UniqueName(t, "b"))
	a.ServiceDownTime, b.ServiceDownTime = 3*time.Second, 3*time.Second
	down := a.DownTime()
	c := h.dial(a)
	svcA := h.startWith(a, Options{Temporal: c})
	svcB := h.startWith(b, Options{Temporal: c})

	eventually(t, 15*time.Second, "reports of both services", func() bool {
		ra, rb := h.record(a.Host), h.record(b.Host)
		return ra.ReportCount >= 2 && rb.ReportCount >= 2
	})
	for _, host := range []string{a.Host, b.Host} {
		if st, _ := h.status(host, down); st != servicegroup.Up {
			t.Fatalf("%s is %s, want up", host, st)
		}
	}
	// A is the service that runs the topic's report run, the one to stop.
	switch holder := h.reportHolder(); holder {
	case activities.Identity(h.binary, a.Host):
	case activities.Identity(h.binary, b.Host):
		a, b, svcA, svcB = b, a, svcB, svcA
	default:
		t.Fatalf("the report run is run by %q", holder)
	}
	startB := h.record(b.Host).ReportCount

	// B must be up at every look until the end of the test.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	var notUp []string
	watch.Add(1)
	go func() {
		defer watch.Done()
		for watchCtx.Err() == nil {
			recs, now, err := h.store.List(watchCtx, servicegroup.Filter{Host: b.Host, Binary: h.binary})
			switch {
			case watchCtx.Err() != nil:
			case err != nil:
				notUp = append(notUp, err.Error())
			case len(recs) != 1:
				notUp = append(notUp, fmt.Sprintf("%s: %d rows", now.Format(time.RFC3339Nano), len(recs)))
			case servicegroup.Status(recs[0], now, down) != servicegroup.Up:
				notUp = append(notUp, fmt.Sprintf("%s: %s (last_seen_up %s)", now.Format(time.RFC3339Nano),
					servicegroup.Status(recs[0], now, down), recs[0].LastSeenUp.Format(time.RFC3339Nano)))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() {
		stopWatch()
		watch.Wait()
		if len(notUp) > 0 {
			t.Errorf("the running service was not up %d times: %v", len(notUp), notUp)
		}
		if n := h.record(b.Host).ReportCount; n < startB+5 {
			t.Errorf("the running service was counted %d times during the test, want at least 5", n-startB)
		}
	}()

	// A row deleted under a running service comes back with the next report.
	deleted, err := h.store.Delete(ctx, a.Host, h.binary)
	if err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 10*time.Second, "the deleted row to come back", func() bool { return h.record(a.Host) != nil })
	t.Logf("deleted row recreated %s after the delete", took.Round(time.Millisecond))
	if r := h.record(a.Host); r.ID == deleted.ID || r.LastSeenUp == nil || r.Topic != h.topic || r.Version != 1 {
		t.Errorf("recreated row %+v", r)
	}
	if n := svcA.logs.count("level=WARN", "created it again", h.binary+"@"+a.Host) +
		svcB.logs.count("level=WARN", "created it again", h.binary+"@"+a.Host); n != 1 {
		t.Errorf("the recreation was logged %d times, want once", n)
	}
	if st, _ := h.status(a.Host, down); st != servicegroup.Up {
		t.Errorf("the service whose row was recreated is %s", st)
	}

	// Forced down: down at once, while its heartbeats go on being counted.
	if _, err := h.store.SetForcedDown(ctx, a.Host, h.binary, true); err != nil {
		t.Fatal(err)
	}
	forced := h.record(a.Host).ReportCount
	eventually(t, 10*time.Second, "two reports of the forced-down service", func() bool {
		if st, _ := h.status(a.Host, down); st != servicegroup.Down {
			t.Fatalf("a forced-down service is %s", st)
		}
		return h.record(a.Host).ReportCount >= forced+2
	})
	if _, err := h.store.SetForcedDown(ctx, a.Host, h.binary, false); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.status(a.Host, down); st != servicegroup.Up {
		t.Errorf("no longer forced down, the service is %s", st)
	}

	// Graceful stop.
	stopping := time.Now()
	svcA.Stop(ctx)
	stopped := time.Now()
	if st, _ := h.status(a.Host, down); st != servicegroup.Up {
		t.Errorf("right after a graceful stop the service is %s, want up until service_down_time has passed", st)
	}
	for host, want := range map[string]bool{a.Host: true, b.Host: false} {
		if got, known, err := activities.Stopped(ctx, c, a.TemporalNamespace, h.topic, h.binary, host); err != nil || !known || got != want {
			t.Errorf("Stopped(%s) = %t, %t, %v; want %t from its last heartbeat", host, got, known, err, want)
		}
	}
	atStop := h.record(a.Host).ReportCount
	final := lastHeartbeat(t, c, a.TemporalNamespace, h.topic, activities.Identity(h.binary, a.Host))
	if final.GetStatus() == enumspb.WORKER_STATUS_RUNNING {
		t.Fatalf("the last heartbeat of the stopped service says %s", final.GetStatus())
	}
	took = eventually(t, down+5*time.Second, "the stopped service to be down", func() bool {
		st, _ := h.status(a.Host, down)
		return st == servicegroup.Down
	})
	t.Logf("stopped service down %s after Stop returned (service_down_time %s)", took.Round(time.Millisecond), down)
	r := h.record(a.Host)
	if r.LastSeenUp.After(stopped.Add(250 * time.Millisecond)) {
		t.Errorf("last_seen_up %s is after the stop (%s): a heartbeat after the stop was counted",
			r.LastSeenUp.Format(time.RFC3339Nano), stopped.Format(time.RFC3339Nano))
	}
	if took > down+1500*time.Millisecond {
		t.Errorf("the stopped service showed up for %s after its stop, want at most service_down_time %s (and a little)", took, down)
	}
	// A report in flight at the stop may count the last running heartbeat;
	// nothing after.
	if r.ReportCount > atStop+1 {
		t.Errorf("the stopped service was counted %d times after its stop", r.ReportCount-atStop)
	}
	// The report run went on on the service that stayed.
	if holder := h.reportHolder(); holder != activities.Identity(h.binary, b.Host) {
		t.Errorf("after the stop of the service that ran it, the report run is run by %q", holder)
	}
	seen := r.ReportCount
	reports := h.record(b.Host).ReportCount
	eventually(t, 10*time.Second, "two more reports of the topic", func() bool {
		if st, _ := h.status(a.Host, down); st != servicegroup.Down {
			t.Fatalf("the stopped service is %s again", st)
		}
		return h.record(b.Host).ReportCount >= reports+2
	})
	r = h.record(a.Host)
	if r.ReportCount != seen {
		t.Errorf("the stopped service was counted again (report_count %d -> %d, stopped %s)", seen, r.ReportCount, stopping.Format(time.RFC3339Nano))
	}
	// The heartbeat that says it stopped is never counted.
	if shutdown := final.GetHeartbeatTime().AsTime(); !r.HeartbeatAt.Before(shutdown.Truncate(time.Microsecond)) {
		t.Errorf("the last counted heartbeat %s is the stopped service's last one (%s, %s)",
			r.HeartbeatAt.Format(time.RFC3339Nano), shutdown.Format(time.RFC3339Nano), final.GetStatus())
	}
}

// lastHeartbeat is the last worker heartbeat that the server keeps of the
// worker identity on the topic's queue.
func lastHeartbeat(t *testing.T, c client.Client, namespace, topic, identity string) *workerpb.WorkerHeartbeat {
	t.Helper()
	resp, err := c.WorkflowService().ListWorkers(context.Background(), &workflowservice.ListWorkersRequest{
		Namespace: namespace, PageSize: 100, Query: fmt.Sprintf("TaskQueue = '%s' AND WorkerIdentity = '%s'", topic, identity),
	})
	if err != nil {
		t.Fatalf("list workers %s: %v", identity, err)
	}
	var last *workerpb.WorkerHeartbeat
	//nolint:staticcheck // SA1019: the only field with heartbeat times on server 1.29
	for _, info := range resp.GetWorkersInfo() {
		if hb := info.GetWorkerHeartbeat(); last == nil || hb.GetHeartbeatTime().AsTime().After(last.GetHeartbeatTime().AsTime()) {
			last = hb
		}
	}
	if last == nil {
		t.Fatalf("no worker heartbeat of %s on %s", identity, topic)
	}
	return last
}

// TestPeriodicTaskSpacing: a task with a 1 s spacing runs about every second,
// one run of the topic's schedule each time.
func TestPeriodicTaskSpacing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	var every runLog
	h.start(h.config(host), every.task("every_second", time.Second, nil))

	took := eventually(t, 15*time.Second, "5 runs", func() bool { return every.count() >= 5 })
	t.Logf("5 runs of a 1s task in %s", took.Round(time.Millisecond))
	// Under load a schedule's run can start late and the next on time, so
	// one gap may be short: the runs keep the spacing on average, and no
	// gap is long.
	times := every.times()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap > 1700*time.Millisecond {
			t.Errorf("gap %d = %s, want about 1s", i, gap)
		}
	}
	if n := len(times) - 1; n > 0 {
		if mean := times[n].Sub(times[0]) / time.Duration(n); mean < 700*time.Millisecond || mean > 1300*time.Millisecond {
			t.Errorf("mean gap %s over %d runs, want about 1s", mean, n+1)
		}
	}
	d := h.describe(PeriodicScheduleID(h.topic, "every_second"))
	if d == nil || d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL {
		t.Fatalf("the task's schedule %+v, want overlap allow-all", d)
	}
	if a := d.Schedule.Action.(*client.ScheduleWorkflowAction); a.TaskQueue != h.topic {
		t.Errorf("the task's runs go to queue %s, want the topic's", a.TaskQueue)
	}
	eventually(t, 10*time.Second, "completed runs found by search attributes", func() bool {
		return h.runs(h.topic+".periodic.every_second", "")["Completed"] >= 3
	})
}

// TestPeriodicRunImmediately: at its start each service runs its
// run_immediately tasks for its own host only, after a random part of the
// fuzzy delay (workflow periodic:<topic>:<task>@<host>-start); the other
// tasks wait for their schedule.
func TestPeriodicRunImmediately(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const fuzzy = 2 * time.Second
	tasks := func(now, later *runLog) []managers.PeriodicTask {
		immediate := now.task("immediate", time.Hour, nil)
		immediate.RunImmediately = true
		return []managers.PeriodicTask{immediate, later.task("after_spacing", time.Hour, nil)}
	}
	var firstNow, firstLater, now, later runLog
	first := h.config(testenv.UniqueName(t, "first"))
	first.PeriodicFuzzyDelay = fuzzy
	h.start(first, tasks(&firstNow, &firstLater)...)
	eventually(t, fuzzy+10*time.Second, "the first service's run at start", func() bool { return firstNow.count() == 1 })

	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.PeriodicFuzzyDelay = fuzzy
	started := time.Now()
	h.start(cfg, tasks(&now, &later)...)
	took := eventually(t, fuzzy+10*time.Second, "the run_immediately task", func() bool { return now.count() == 1 })
	t.Logf("run_immediately task ran %s after start", took.Round(time.Millisecond))

	for _, host := range []string{first.Host, cfg.Host} {
		id := PeriodicScheduleID(h.topic, "immediate") + "@" + host + "-start"
		desc, err := h.c.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatalf("the run at start of %s: %v", host, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		delay := info.GetExecutionTime().AsTime().Sub(info.GetStartTime().AsTime())
		var req workflows.PeriodicRequest
		attrs := h.startInput(id, "", &req)
		t.Logf("%s: run at start delayed %s", host, delay)
		// rand.N over [0, 2 s] in nanoseconds: 0 would mean no delay.
		if delay <= 0 || delay > fuzzy || attrs.GetFirstWorkflowTaskBackoff().AsDuration() != delay {
			t.Errorf("%s: run at start delayed %s (first task backoff %s), want in (0, %s]", host, delay, attrs.GetFirstWorkflowTaskBackoff().AsDuration(), fuzzy)
		}
		if len(req.Hosts) != 1 || req.Hosts[0] != host || req.Spread != "" || req.Task != "immediate" {
			t.Errorf("%s: run at start for %+v, want its own host only, not spread", host, req)
		}
		if res := h.runResult(id, ""); res.Hosts != 1 || res.Ran != 1 {
			t.Errorf("%s: run at start %+v, want 1 host that ran", host, res)
		}
		if host == cfg.Host {
			if ran := now.times()[0]; ran.Before(info.GetExecutionTime().AsTime().Add(-50*time.Millisecond)) || ran.Before(started) {
				t.Errorf("the task ran at %s, before the end of its delay %s", ran, info.GetExecutionTime().AsTime())
			}
		}
	}
	if firstNow.count() != 1 {
		t.Errorf("the second service's start ran the task %d times on the first host", firstNow.count()-1)
	}
	eventually(t, 10*time.Second, "the run at start found by its NovaflowHost", func() bool {
		return h.runs(h.topic+".periodic.immediate", cfg.Host)["Completed"] == 1
	})
	// The other task's first run is one spacing (1h, shifted by its phase) away.
	d := h.describe(PeriodicScheduleID(h.topic, "after_spacing"))
	if d == nil || len(d.Info.NextActionTimes) == 0 {
		t.Fatal("no schedule for the task without run_immediately")
	}
	if next := time.Until(d.Info.NextActionTimes[0]); next < 0 || later.count() != 0 || firstLater.count() != 0 {
		t.Errorf("task without run_immediately ran (%d, %d) or is due at once (%s)", firstLater.count(), later.count(), next)
	}
}

// TestPeriodicTaskSettings: a disabled task (Disabled, or a negative spacing)
// has no schedule; an external_process_ok task is the topic's, and a host
// with NOVAFLOW_RUN_EXTERNAL_PERIODIC_TASKS=false skips it; a service with
// NOVAFLOW_PERIODIC_ENABLE=false creates no periodic schedule, runs nothing at
// start, and skips the tasks of its topic's schedules.
func TestPeriodicTaskSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ran sync.Map // task@host -> runs
	tasks := func(host string) []managers.PeriodicTask {
		count := func(name string) func(context.Context) error {
			return func(context.Context) error {
				n, _ := ran.LoadOrStore(name+"@"+host, new(int))
				*n.(*int)++
				return nil
			}
		}
		return []managers.PeriodicTask{
			{Name: "on", Spacing: time.Hour, Run: count("on")},
			{Name: "immediate", Spacing: time.Hour, RunImmediately: true, Run: count("immediate")},
			{Name: "disabled", Spacing: time.Hour, Disabled: true, Run: count("disabled")},
			{Name: "negative", Spacing: -time.Second, Run: count("negative")},
			{Name: "external", Spacing: time.Hour, ExternalProcessOK: true, Run: count("external")},
		}
	}
	runs := func(task, host string) int {
		n, ok := ran.Load(task + "@" + host)
		if !ok {
			return 0
		}
		return *n.(*int)
	}
	// runOn runs task on host only and returns what host did.
	runOn := func(h *harness, host, task string) workflows.PeriodicResult {
		t.Helper()
		got, err := TriggerPeriodic(ctx, h.c, h.topic, host, task)
		if err != nil || len(got) != 1 {
			t.Fatalf("run %s on %s: %+v, %v", task, host, got, err)
		}
		if res := h.runResult(got[0].ID, ""); res.Hosts != 1 {
			t.Fatalf("run %s on %s: %+v", task, host, res)
		}
		return h.hostResults(got[0].ID, "")[host]
	}

	h := newHarness(t)
	noExternal := h.config(testenv.UniqueName(t, "host"))
	noExternal.RunExternalPeriodicTasks = false
	h.start(noExternal, tasks(noExternal.Host)...)
	for task, want := range map[string]bool{"on": true, "immediate": true, "external": true, "disabled": false, "negative": false} {
		if got := h.describe(PeriodicScheduleID(h.topic, task)) != nil; got != want {
			t.Errorf("schedule of %s exists = %t, want %t", task, got, want)
		}
	}
	h.listed(periodicPrefix(h.topic), PeriodicScheduleID(h.topic, "external"), PeriodicScheduleID(h.topic, "on"))
	if r := runOn(h, noExternal.Host, "external"); r.Skipped != activities.SkippedExternal || runs("external", noExternal.Host) != 0 {
		t.Errorf("an external task on a host that runs none: %+v, ran %d times", r, runs("external", noExternal.Host))
	}
	if r := runOn(h, noExternal.Host, "on"); r.Skipped != "" || runs("on", noExternal.Host) != 1 {
		t.Errorf("a task on a host that runs no external tasks: %+v, ran %d times", r, runs("on", noExternal.Host))
	}
	eventually(t, 10*time.Second, "the run at start", func() bool { return runs("immediate", noExternal.Host) == 1 })

	// A topic whose only service has periodic tasks off: no periodic
	// schedule, nothing run at start.
	h2 := newHarness(t)
	off := h2.config(testenv.UniqueName(t, "off"))
	off.PeriodicEnable = false
	h2.start(off, tasks(off.Host)...)
	for _, task := range []string{"on", "immediate", "external", "disabled", "negative"} {
		if h2.describe(PeriodicScheduleID(h2.topic, task)) != nil {
			t.Errorf("periodic_enable=false: task %s has a schedule", task)
		}
	}
	if h2.describe(ReportScheduleID(h2.topic)) == nil {
		t.Error("periodic_enable=false removed the status report")
	}
	if _, err := h2.c.DescribeWorkflowExecution(ctx, PeriodicScheduleID(h2.topic, "immediate")+"@"+off.Host+"-start", ""); !isNotFound(err) {
		t.Errorf("periodic_enable=false: a run at start exists (%v)", err)
	}
	if _, err := TriggerPeriodic(ctx, h2.c, h2.topic, "", ""); err == nil {
		t.Error("run-periodic of a topic without periodic schedules did not fail")
	}

	// In a topic whose schedules another service made, a host with periodic
	// tasks off skips them, and leaves the schedules as they are.
	offToo := h.config(testenv.UniqueName(t, "off"))
	offToo.PeriodicEnable = false
	offToo.PeriodicFuzzyDelay = time.Minute
	svc := h.start(offToo, tasks(offToo.Host)...)
	if n := svc.logs.count("schedule updated") + svc.logs.count("schedule deleted") + svc.logs.count("schedule created"); n != 0 {
		t.Errorf("a service with periodic tasks off changed %d schedules of its topic", n)
	}
	if got := spreadOf(t, h, PeriodicScheduleID(h.topic, "on")); got != "0s" {
		t.Errorf("the spread of the topic's schedule became %q", got)
	}
	if r := runOn(h, offToo.Host, "on"); r.Skipped != activities.SkippedDisabled || runs("on", offToo.Host) != 0 {
		t.Errorf("a task on a host with periodic tasks off: %+v, ran %d times", r, runs("on", offToo.Host))
	}
	if runs("immediate", offToo.Host) != 0 {
		t.Error("a host with periodic tasks off ran its run_immediately task")
	}
}

// spreadOf is the spread in the input of a periodic schedule's runs.
func spreadOf(t *testing.T, h *harness, id string) string {
	t.Helper()
	d := h.describe(id)
	if d == nil {
		t.Fatalf("no schedule %s", id)
	}
	a := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	var req workflows.PeriodicRequest
	p, ok := a.Args[0].(*commonpb.Payload)
	if len(a.Args) != 1 || !ok {
		t.Fatalf("schedule %s: arguments %v", id, a.Args)
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, &req); err != nil {
		t.Fatal(err)
	}
	return req.Spread
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

func TestPeriodicRaiseOnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	fail := func(context.Context) error { return errors.New("driver unreachable") }
	raises := managers.PeriodicTask{Name: "raises", Spacing: time.Hour, RunImmediately: true, RaiseOnError: true, Run: fail}
	logs := managers.PeriodicTask{Name: "logs", Spacing: time.Hour, RunImmediately: true, Run: fail}
	svc := h.start(h.config(host), raises, logs)

	eventually(t, 15*time.Second, "a failed run of the task that raises", func() bool {
		return h.runs(h.topic+".periodic.raises", host)["Failed"] == 1
	})
	eventually(t, 15*time.Second, "a completed run of the task that logs", func() bool {
		return h.runs(h.topic+".periodic.logs", host)["Completed"] == 1
	})
	err := h.c.GetWorkflow(context.Background(), PeriodicScheduleID(h.topic, "raises")+"@"+host+"-start", "").Get(context.Background(), nil)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != workflows.PeriodicFailedType || !strings.Contains(app.Error(), host) {
		t.Errorf("the failed run's error %v, want a %s naming the host", err, workflows.PeriodicFailedType)
	}
	res := h.runResult(PeriodicScheduleID(h.topic, "logs")+"@"+host+"-start", "")
	if res.Failed != 1 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Message, "driver unreachable") {
		t.Errorf("the run of the task that logs: %+v, want 1 failure with its error", res)
	}
	if n := svc.logs.count("level=ERROR", "periodic task failed", "task=logs", "driver unreachable"); n != 1 {
		t.Errorf("the failure of the task that logs was logged %d times, want 1", n)
	}
}

// TestSlowTaskDoesNotDelayAnother: tasks run apart from each other, and a
// task never runs twice at once on a host.
func TestSlowTaskDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	var slow, fast runLog
	slowTask := slow.task("slow", time.Second, func(ctx context.Context) error {
		select {
		case <-time.After(4 * time.Second):
		case <-ctx.Done():
		}
		return nil
	})
	h.start(h.config(host), slowTask, fast.task("fast", time.Second, nil))

	eventually(t, 20*time.Second, "the slow task's first run to end", func() bool {
		slow.mu.Lock()
		defer slow.mu.Unlock()
		return len(slow.ends) >= 1
	})
	slow.mu.Lock()
	from, to := slow.starts[0], slow.ends[0]
	slow.mu.Unlock()
	during := 0
	for _, at := range fast.times() {
		if at.After(from) && at.Before(to) {
			during++
		}
	}
	t.Logf("the 1s task ran %d times during the slow task's 4s run", during)
	if during < 2 {
		t.Errorf("the 1s task ran %d times during a 4s run of the slow task, want at least 2", during)
	}
	for _, at := range slow.times()[1:] {
		if at.Before(to) {
			t.Errorf("the slow task started again at %s, during its run of %s to %s", at, from, to)
		}
	}
}

// TestPeriodicHostIsolation: two hosts of one topic; one host's task blocks.
// The other host still runs the task at every run (the schedule's overlap
// policy is allow-all), and the blocked host skips the later runs (still
// running from an earlier run) instead of running the task twice at once.
func TestPeriodicHostIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	release := make(chan struct{})
	var blocked, free runLog
	freeCfg, blockedCfg := h.config(testenv.UniqueName(t, "free")), h.config(testenv.UniqueName(t, "blocked"))
	h.start(freeCfg, free.task("tick", time.Second, nil))
	h.start(blockedCfg, blocked.task("tick", time.Second, func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	t.Cleanup(func() { close(release) }) // before the services stop

	eventually(t, 15*time.Second, "the blocked host's task to start", func() bool { return blocked.count() == 1 })
	since, freeRuns := time.Now(), free.count()
	took := eventually(t, 15*time.Second, "3 runs on the free host", func() bool { return free.count() >= freeRuns+3 })
	t.Logf("3 runs on the free host in %s while the other host's task was blocked", took.Round(time.Millisecond))

	wf := h.topic + ".periodic.tick"
	var checked int
	eventually(t, 15*time.Second, "2 completed runs that began after the block", func() bool {
		checked = 0
		for _, e := range h.executions(wf, "") {
			if e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED || e.GetStartTime().AsTime().Before(since) {
				continue
			}
			checked++
			id, runID := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			res, hosts := h.runResult(id, runID), h.hostResults(id, runID)
			if res.Hosts != 2 || res.Ran != 1 || res.Skipped != 1 || res.Failed+res.Unreachable != 0 {
				t.Fatalf("run %s: %+v, want 2 hosts, 1 ran and 1 skipped", id, res)
			}
			if hosts[blockedCfg.Host].Skipped != activities.SkippedRunning || hosts[freeCfg.Host].Skipped != "" {
				t.Fatalf("run %s: hosts did %+v, want %s to skip (%s) and %s to run", id, hosts, blockedCfg.Host,
					activities.SkippedRunning, freeCfg.Host)
			}
		}
		return checked >= 2
	})
	if blocked.count() != 1 {
		t.Errorf("the blocked host ran the task %d times at once", blocked.count())
	}
	if n := h.runs(wf, "")["Running"]; n < 1 {
		t.Errorf("%d runs open, want the blocked host's first run still open", n)
	}
}

// TestRunPeriodic: run-periodic (TriggerPeriodic) runs a task now on every up
// host of the topic by triggering its schedule, even a paused one (which
// stays paused); with a host, it starts a run for that host only; an unknown
// task is an error.
func TestRunPeriodic(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	var ra, rb runLog
	a, b := h.config(testenv.UniqueName(t, "a")), h.config(testenv.UniqueName(t, "b"))
	h.start(a, ra.task("hourly", time.Hour, nil))
	h.start(b, rb.task("hourly", time.Hour, nil))
	id := PeriodicScheduleID(h.topic, "hourly")
	h.listed(periodicPrefix(h.topic), id)

	got, err := TriggerPeriodic(ctx, h.c, h.topic, "", "hourly")
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Paused {
		t.Fatalf("TriggerPeriodic = %+v, %v", got, err)
	}
	took := eventually(t, 10*time.Second, "the triggered run on both hosts", func() bool { return ra.count() == 1 && rb.count() == 1 })
	t.Logf("triggered run on both hosts after %s", took.Round(time.Millisecond))

	got, err = TriggerPeriodic(ctx, h.c, h.topic, a.Host, "")
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0].ID, id+"@"+a.Host+"-") {
		t.Fatalf("TriggerPeriodic on %s = %+v, %v", a.Host, got, err)
	}
	if res := h.runResult(got[0].ID, ""); res.Hosts != 1 || res.Ran != 1 {
		t.Errorf("the run for one host: %+v", res)
	}
	if ra.count() != 2 || rb.count() != 1 {
		t.Errorf("after a run for %s: ran %d times there, %d times on the other host; want 2 and 1", a.Host, ra.count(), rb.count())
	}
	eventually(t, 10*time.Second, "the run for one host found by its NovaflowHost", func() bool {
		return h.runs(h.topic+".periodic.hourly", a.Host)["Completed"] == 1
	})

	// A paused schedule runs once when triggered, and stays paused.
	if err := h.c.ScheduleClient().GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the schedule to be listed as paused", func() bool {
		entries, err := listSchedules(ctx, h.c, periodicPrefix(h.topic))
		return err == nil && len(entries) == 1 && entries[0].Paused
	})
	if got, err = TriggerPeriodic(ctx, h.c, h.topic, "", ""); err != nil || len(got) != 1 || got[0].ID != id || !got[0].Paused {
		t.Fatalf("TriggerPeriodic of all tasks = %+v, %v", got, err)
	}
	eventually(t, 10*time.Second, "the run of the paused schedule", func() bool { return ra.count() == 3 && rb.count() == 2 })
	if !h.describe(id).Schedule.State.Paused {
		t.Error("the trigger unpaused the schedule")
	}
	if _, err := TriggerPeriodic(ctx, h.c, h.topic, "", "no_such_task"); err == nil || !strings.Contains(err.Error(), "no_such_task") {
		t.Errorf("TriggerPeriodic of an unknown task: %v", err)
	}
	if _, err := TriggerPeriodic(ctx, h.c, h.topic, a.Host, "no_such_task"); err == nil {
		t.Error("TriggerPeriodic of an unknown task on a host did not fail")
	}
}

// TestReconcileAtStart: at its start a service creates its topic's schedules
// or leaves them as they are when they already match; deletes the periodic
// schedules of tasks that are disabled or no longer declared, and its own
// schedules of the per-service design (not other hosts'); unpauses the
// schedules novaflow paused and leaves those paused by hand paused. A
// graceful stop leaves the topic's schedules running.
func TestReconcileAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cfg := h.config(testenv.UniqueName(t, "host"))
	other := testenv.UniqueName(t, "other")
	run := func(context.Context) error { return nil }
	tasks := []managers.PeriodicTask{{Name: "ours", Spacing: time.Hour, Run: run}, {Name: "by_hand", Spacing: time.Hour, Run: run},
		{Name: "disabled", Spacing: time.Hour, Disabled: true, Run: run}}
	reportID := ReportScheduleID(h.topic)
	ours, byHand := PeriodicScheduleID(h.topic, "ours"), PeriodicScheduleID(h.topic, "by_hand")

	// Left by code that declared more tasks, and by the per-service design.
	stale, disabled := PeriodicScheduleID(h.topic, "gone"), PeriodicScheduleID(h.topic, "disabled")
	ownReport, ownTask := legacyReportID(h.binary, cfg.Host), legacyPeriodicPrefix(h.topic, cfg.Host)+"ours"
	otherReport, otherTask := legacyReportID(h.binary, other), legacyPeriodicPrefix(h.topic, other)+"ours"
	for _, id := range []string{stale, disabled, ownReport, ownTask, otherReport, otherTask} {
		h.createSchedule(id, "nobody.polls", testenv.UniqueName(t, "q"))
	}
	h.listed(periodicPrefix(h.topic), stale, disabled, ownTask, otherTask)

	first := h.start(cfg, tasks...)
	for id, want := range map[string]bool{stale: false, disabled: false, ownReport: false, ownTask: false,
		otherReport: true, otherTask: true, reportID: true, ours: true, byHand: true} {
		if got := h.describe(id) != nil; got != want {
			t.Errorf("after the start: schedule %s exists = %t, want %t", id, got, want)
		}
	}
	if n := first.logs.count("level=INFO", "schedule deleted"); n != 4 {
		t.Errorf("%d schedule deletions logged, want 4", n)
	}
	if n := first.logs.count("level=INFO", "schedule created"); n != 3 {
		t.Errorf("%d schedule creations logged, want 3 (the report, ours, by_hand)", n)
	}

	first.Stop(ctx)
	for _, id := range []string{reportID, ours, byHand} {
		if d := h.describe(id); d == nil || d.Schedule.State.Paused {
			t.Errorf("after a graceful stop: schedule %s is gone or paused", id)
		}
	}

	// Paused by hand (the report too), and paused by novaflow (the
	// per-service design paused a stopped service's schedules).
	for id, note := range map[string]string{byHand: "maintenance", reportID: "maintenance", ours: NotePrefix + "service stopped"} {
		if err := h.c.ScheduleClient().GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
			t.Fatal(err)
		}
	}
	second := h.start(cfg, tasks...)
	for id, want := range map[string]client.ScheduleState{
		reportID: {Paused: true, Note: "maintenance"},
		byHand:   {Paused: true, Note: "maintenance"},
		ours:     {Paused: false, Note: StartedNote},
	} {
		if st := h.describe(id).Schedule.State; st.Paused != want.Paused || st.Note != want.Note {
			t.Errorf("after the restart: %s paused=%t note=%q, want paused=%t note=%q", id, st.Paused, st.Note, want.Paused, want.Note)
		}
	}
	if second.logs.count("level=WARN", "paused by hand", "schedule="+byHand) != 1 {
		t.Error("the hand-paused schedule was not reported at start")
	}
	if second.logs.count("level=WARN", "status report schedule paused by hand", "unknown", "schedule="+reportID) != 1 {
		t.Error("the hand-paused report schedule was not reported at start")
	}
	if second.logs.count("level=INFO", "schedule unpaused", "schedule="+ours) != 1 {
		t.Error("the unpause was not logged")
	}
	// The same settings again change nothing.
	if n := second.logs.count("schedule created") + second.logs.count("schedule updated") + second.logs.count("schedule deleted"); n != 0 {
		t.Errorf("a restart with the same settings changed %d schedules", n)
	}
	// Nor does another service of the topic with the same settings.
	third := h.start(h.config(testenv.UniqueName(t, "third")), tasks...)
	if n := third.logs.count("schedule created") + third.logs.count("schedule updated") + third.logs.count("schedule deleted"); n != 0 {
		t.Errorf("another service of the topic changed %d schedules", n)
	}
	if n := third.logs.count("level=DEBUG", "schedule unchanged"); n != 1 {
		t.Errorf("%d schedules logged unchanged by another service of the topic, want 1 (ours; the other two are paused)", n)
	}
	for _, id := range []string{otherReport, otherTask} {
		if h.describe(id) == nil {
			t.Errorf("another host's schedule %s of the per-service design was deleted", id)
		}
	}
}

// TestDeleteSchedules: DeleteSchedules deletes the schedules a service owned
// in the per-service design, and terminates their open runs; its topic's
// schedules and other hosts' stay. Kill deletes the service's row and those
// schedules.
func TestDeleteSchedules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cfg := h.config(testenv.UniqueName(t, "host"))
	other := testenv.UniqueName(t, "other")
	svc := h.start(cfg, managers.PeriodicTask{Name: "task", Spacing: time.Hour, Run: func(context.Context) error { return nil }})

	own := []string{legacyReportID(h.binary, cfg.Host), legacyPeriodicPrefix(h.topic, cfg.Host) + "a", legacyPeriodicPrefix(h.topic, cfg.Host) + "b"}
	kept := []string{legacyReportID(h.binary, other), legacyPeriodicPrefix(h.topic, other) + "a", ReportScheduleID(h.topic), PeriodicScheduleID(h.topic, "task")}
	for _, id := range append(append([]string{}, own...), kept[:2]...) {
		h.createSchedule(id, "nobody.polls", testenv.UniqueName(t, "q"))
	}
	h.listed(periodicPrefix(h.topic), own[1], own[2], kept[1], kept[3])
	// A run of one of them that nobody takes: it stays open.
	if err := h.c.ScheduleClient().GetHandle(ctx, own[1]).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var open client.ScheduleWorkflowExecution
	eventually(t, 10*time.Second, "the triggered run", func() bool {
		runs := h.describe(own[1]).Info.RunningWorkflows
		if len(runs) > 0 {
			open = runs[0]
		}
		return len(runs) > 0
	})

	if err := svc.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range own {
		if h.describe(id) != nil {
			t.Errorf("schedule %s survived kill", id)
		}
	}
	for _, id := range kept {
		if h.describe(id) == nil {
			t.Errorf("kill deleted schedule %s", id)
		}
	}
	if h.record(cfg.Host) != nil {
		t.Error("the record survived kill")
	}
	desc, err := h.c.DescribeWorkflowExecution(ctx, open.WorkflowID, open.FirstExecutionRunID)
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("the open run of a deleted schedule: %v, %v; want terminated", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}
	// Nothing left to delete is no error.
	if err := DeleteSchedules(ctx, h.c, h.topic, h.binary, cfg.Host); err != nil {
		t.Errorf("DeleteSchedules with nothing to delete: %v", err)
	}
	if err := DeleteSchedules(ctx, h.c, h.topic, h.binary, other); err != nil {
		t.Fatal(err)
	}
	for _, id := range kept {
		if got, want := h.describe(id) != nil, id != kept[0] && id != kept[1]; got != want {
			t.Errorf("after deleting the other host's: schedule %s exists = %t, want %t", id, got, want)
		}
	}
}

// TestReconcileAfterSettingsChange changes the settings in the environment
// the service reloads and sends it SIGHUP's Reset.
func TestReconcileAfterSettingsChange(t *testing.T) {
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	ctx := context.Background()

	var ranA, ranB runLog
	a := ranA.task("a", time.Hour, nil)
	b := ranB.task("b", 30*time.Second, nil)
	b.ExternalProcessOK = true
	var env Env // what the service's Reload returns
	svc := h.startWith(cfg, Options{Reload: func() (Env, error) { return env, nil }}, a, b)
	idA, idB := PeriodicScheduleID(h.topic, "a"), PeriodicScheduleID(h.topic, "b")
	report := ReportScheduleID(h.topic)
	// every is a schedule's interval, the report's interval of reports.
	every := func(id string) time.Duration {
		d := h.describe(id)
		if d == nil {
			return 0
		}
		if id != report {
			return d.Schedule.Spec.Intervals[0].Every
		}
		var req workflows.ReportRequest
		if err := converter.GetDefaultDataConverter().FromPayload(d.Schedule.Action.(*client.ScheduleWorkflowAction).Args[0].(*commonpb.Payload), &req); err != nil {
			t.Fatal(err)
		}
		every, err := time.ParseDuration(req.Every)
		if err != nil {
			t.Fatalf("report input %+v: %v", req, err)
		}
		return every
	}
	if every(idA) != time.Hour || every(idB) != 30*time.Second || every(report) != time.Second {
		t.Fatalf("at start: a every %s, b every %s, report every %s", every(idA), every(idB), every(report))
	}
	h.listed(periodicPrefix(h.topic), idA, idB)
	// runOn runs task on this host and returns what the host did.
	runOn := func(task string) workflows.PeriodicResult {
		t.Helper()
		got, err := TriggerPeriodic(ctx, h.c, h.topic, cfg.Host, task)
		if err != nil || len(got) != 1 {
			t.Fatalf("run %s: %+v, %v", task, got, err)
		}
		h.runResult(got[0].ID, "")
		return h.hostResults(got[0].ID, "")[cfg.Host]
	}

	setenv := func(settings map[string]string) {
		base := map[string]string{
			"HOST": cfg.Host, "TEMPORAL_ADDRESS": cfg.TemporalAddress, "TEMPORAL_NAMESPACE": cfg.TemporalNamespace,
			"DATABASE_URL": cfg.DatabaseURL, "REPORT_INTERVAL": "1s", "SERVICE_DOWN_TIME": "2s", "PERIODIC_ENABLE": "true",
			"PERIODIC_FUZZY_DELAY": "0s", "PERIODIC_INTERVAL_MAX": "0s", "RUN_EXTERNAL_PERIODIC_TASKS": "true",
			"GRACEFUL_SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "debug", "CONFIG_FILE": "",
		}
		for k, v := range settings {
			base[k] = v
		}
		env = Env{}
		for k, v := range base {
			env[EnvPrefix+"_"+k] = v
		}
	}
	changes := func() int {
		return svc.logs.count("schedule created") + svc.logs.count("schedule updated") + svc.logs.count("schedule deleted")
	}
	reset := func(step string) int {
		t.Helper()
		before := changes()
		start := time.Now()
		if err := svc.Reset(ctx); err != nil {
			t.Fatalf("%s: reset: %v", step, err)
		}
		t.Logf("%s: reset in %s", step, time.Since(start).Round(time.Millisecond))
		return changes() - before
	}

	// Same settings: nothing changes.
	setenv(nil)
	if n := reset("unchanged settings"); n != 0 {
		t.Errorf("a reset with the same settings changed %d schedules", n)
	}

	// An interval cap (no effect), slower reports, a fuzzy delay, no external
	// tasks on this host.
	setenv(map[string]string{"PERIODIC_INTERVAL_MAX": "10m", "REPORT_INTERVAL": "2s", "PERIODIC_FUZZY_DELAY": "1m",
		"RUN_EXTERNAL_PERIODIC_TASKS": "false"})
	if n := reset("new intervals"); n != 3 {
		t.Errorf("the reset changed %d schedules, want 3 (report interval, both spreads)", n)
	}
	if every(idA) != time.Hour || every(idB) != 30*time.Second || every(report) != 2*time.Second {
		t.Errorf("after reset: a every %s, b every %s, report every %s; want 1h, 30s, 2s", every(idA), every(idB), every(report))
	}
	if sa, sb := spreadOf(t, h, idA), spreadOf(t, h, idB); sa != "1m0s" || sb != "15s" {
		t.Errorf("after reset: spread of a %s, of b %s; want min(fuzzy delay, spacing / 2): 1m0s and 15s", sa, sb)
	}
	if r := runOn("b"); r.Skipped != activities.SkippedExternal || ranB.count() != 0 {
		t.Errorf("external task after the reset: %+v, ran %d times; want skipped", r, ranB.count())
	}

	// Reports and periodic tasks off: the topic's schedules stay as they
	// are; this host skips the tasks.
	setenv(map[string]string{"PERIODIC_ENABLE": "false", "REPORT_INTERVAL": "0s", "PERIODIC_FUZZY_DELAY": "5s"})
	if n := reset("all off"); n != 0 {
		t.Errorf("turning reports and periodic tasks off changed %d schedules", n)
	}
	if every(idA) != time.Hour || every(idB) != 30*time.Second || every(report) != 2*time.Second || spreadOf(t, h, idA) != "1m0s" {
		t.Errorf("all off: a every %s, b every %s, report every %s, a's spread %s", every(idA), every(idB), every(report), spreadOf(t, h, idA))
	}
	if r := runOn("a"); r.Skipped != activities.SkippedDisabled || ranA.count() != 0 {
		t.Errorf("periodic tasks off: %+v, ran %d times; want skipped", r, ranA.count())
	}

	// Back on.
	setenv(nil)
	reset("back on")
	if every(idA) != time.Hour || every(idB) != 30*time.Second || every(report) != time.Second || spreadOf(t, h, idA) != "0s" {
		t.Errorf("back on: a every %s, b every %s, report every %s, a's spread %s", every(idA), every(idB), every(report), spreadOf(t, h, idA))
	}
	if r := runOn("a"); r.Skipped != "" || ranA.count() != 1 {
		t.Errorf("back on: %+v, ran %d times; want it run", r, ranA.count())
	}
}

// TestReconcileSetsCheck: a topic's schedules that an earlier release wrote,
// whose input does not say check (workflows.ReportRequest.Check), are
// updated at a service's start to say it, so that their runs check
// themselves without the workflow.GetVersion gate and its action.
func TestReconcileSetsCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cfg := h.config(testenv.UniqueName(t, "host"))
	tasks := []managers.PeriodicTask{{Name: "ours", Spacing: time.Hour, Run: func(context.Context) error { return nil }}}
	reportID, ours := ReportScheduleID(h.topic), PeriodicScheduleID(h.topic, "ours")
	h.start(cfg, tasks...).Stop(ctx)
	for _, id := range []string{reportID, ours} {
		old := map[string]any{}
		p, _ := h.describe(id).Schedule.Action.(*client.ScheduleWorkflowAction).Args[0].(*commonpb.Payload)
		if err := converter.GetDefaultDataConverter().FromPayload(p, &old); err != nil || old["check"] != true {
			t.Fatalf("schedule %s's input %v, %v: want it to say check", id, old, err)
		}
		delete(old, "check")
		h.editAction(id, old)
	}
	second := h.start(cfg, tasks...)
	defer second.Stop(ctx)
	for _, id := range []string{reportID, ours} {
		now := map[string]any{}
		p, _ := h.describe(id).Schedule.Action.(*client.ScheduleWorkflowAction).Args[0].(*commonpb.Payload)
		if err := converter.GetDefaultDataConverter().FromPayload(p, &now); err != nil || now["check"] != true {
			t.Errorf("schedule %s's input after a start: %v, %v; want it updated to say check", id, now, err)
		}
	}
}
