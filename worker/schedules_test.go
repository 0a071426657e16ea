package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/testenv"
)

func TestStatusReportsMoveLastSeenUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	h.start(h.config(host))

	took := eventually(t, 10*time.Second, "the first report", func() bool {
		r := h.record(host)
		return r != nil && r.ReportCount >= 1 && r.LastSeenUp != nil
	})
	t.Logf("first report %s after start (triggered at start)", took.Round(time.Millisecond))
	first := h.record(host)
	took = eventually(t, 15*time.Second, "three more reports", func() bool {
		r := h.record(host)
		return r.ReportCount >= first.ReportCount+3 && r.LastSeenUp.After(*first.LastSeenUp)
	})
	t.Logf("three reports in %s at report_interval 1s", took.Round(time.Millisecond))
	if up, _ := h.up(host, h.config(host).DownTime()); !up {
		t.Error("a reporting service is down")
	}

	d := h.describe(ReportScheduleID(testBinary, host))
	if d == nil {
		t.Fatal("no report schedule")
	}
	if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != time.Second {
		t.Errorf("report intervals = %+v, want every 1s", iv)
	}
	if d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("overlap = %v, want skip", d.Schedule.Policy.Overlap)
	}
	a := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if a.Workflow != "schedtest.report_state" || a.TaskQueue != "schedtest."+host {
		t.Errorf("action runs %v on %s, want schedtest.report_state on schedtest.%s", a.Workflow, a.TaskQueue, host)
	}
	if d.Schedule.State.Paused {
		t.Error("report schedule is paused")
	}
	eventually(t, 10*time.Second, "completed report runs found by search attributes", func() bool {
		return h.runs(host, "schedtest.report_state")["Completed"] >= 3
	})
}

func TestDeletedRecordIsRecreatedByTheNextReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	svc := h.start(h.config(host))
	eventually(t, 10*time.Second, "the first report", func() bool { r := h.record(host); return r != nil && r.ReportCount >= 1 })

	deleted, err := h.store.Delete(context.Background(), host, testBinary)
	if err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 10*time.Second, "the record to come back", func() bool { return h.record(host) != nil })
	t.Logf("record recreated %s after it was deleted", took.Round(time.Millisecond))
	r := h.record(host)
	if r.ID == deleted.ID || r.LastSeenUp == nil {
		t.Errorf("recreated record %+v", r)
	}
	if svc.logs.count("level=WARN", "created it again") != 1 {
		t.Error("the recreation was not logged once")
	}
	if up, _ := h.up(host, h.config(host).DownTime()); !up {
		t.Error("the service is down after its record was recreated")
	}
}

func TestPeriodicTaskSpacing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	var every runLog
	h.start(h.config(host), every.task("every_second", time.Second, nil))

	took := eventually(t, 15*time.Second, "5 runs", func() bool { return every.count() >= 5 })
	t.Logf("5 runs of a 1s task in %s", took.Round(time.Millisecond))
	times := every.times()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 500*time.Millisecond || gap > 1700*time.Millisecond {
			t.Errorf("gap %d = %s, want about 1s", i, gap)
		}
	}
	eventually(t, 10*time.Second, "completed runs found by search attributes", func() bool {
		return h.runs(host, "schedtest.periodic.every_second")["Completed"] >= 3
	})
}

func TestPeriodicRunImmediately(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	var now, later runLog
	immediate := now.task("immediate", time.Hour, nil)
	immediate.RunImmediately = true
	h.start(h.config(host), immediate, later.task("after_spacing", time.Hour, nil))

	took := eventually(t, 10*time.Second, "the run_immediately task", func() bool { return now.count() == 1 })
	t.Logf("run_immediately task ran %s after start", took.Round(time.Millisecond))
	// The other task's first run is one spacing (1h, shifted by its phase) away.
	d := h.describe(PeriodicScheduleID(testTopic, host, "after_spacing"))
	if d == nil || len(d.Info.NextActionTimes) == 0 {
		t.Fatal("no schedule for the task without run_immediately")
	}
	if next := time.Until(d.Info.NextActionTimes[0]); next < 0 || later.count() != 0 {
		t.Errorf("task without run_immediately ran (%d) or is due at once (%s)", later.count(), next)
	}
}

func TestPeriodicDisabledTasksHaveNoSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run := func(context.Context) error { return nil }
	tasks := []managers.PeriodicTask{
		{Name: "on", Spacing: time.Hour, Run: run},
		{Name: "disabled", Spacing: time.Hour, Disabled: true, Run: run},
		{Name: "external", Spacing: time.Hour, ExternalProcessOK: true, Run: run},
	}
	noExternal := h.config(testenv.UniqueName(t, "host"))
	noExternal.RunExternalPeriodicTasks = false
	h.start(noExternal, tasks...)
	for task, want := range map[string]bool{"on": true, "disabled": false, "external": false} {
		if got := h.describe(PeriodicScheduleID(testTopic, noExternal.Host, task)) != nil; got != want {
			t.Errorf("run_external_periodic_tasks=false: schedule of %s exists = %t, want %t", task, got, want)
		}
	}

	off := h.config(testenv.UniqueName(t, "host"))
	off.PeriodicEnable = false
	h.start(off, tasks...)
	for _, task := range []string{"on", "disabled", "external"} {
		if h.describe(PeriodicScheduleID(testTopic, off.Host, task)) != nil {
			t.Errorf("periodic_enable=false: task %s has a schedule", task)
		}
	}
	if h.describe(ReportScheduleID(testBinary, off.Host)) == nil {
		t.Error("periodic_enable=false removed the status report")
	}
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
		return h.runs(host, "schedtest.periodic.raises")["Failed"] == 1
	})
	eventually(t, 15*time.Second, "a completed run of the task that logs", func() bool {
		return h.runs(host, "schedtest.periodic.logs")["Completed"] == 1
	})
	if n := svc.logs.count("level=ERROR", "periodic task failed", "task=logs", "driver unreachable"); n != 1 {
		t.Errorf("the failure of the task that logs was logged %d times, want 1", n)
	}
}

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
	slowTask.RunImmediately = true
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
	d := h.describe(PeriodicScheduleID(testTopic, host, "slow"))
	if d.Info.NumActionsSkippedOverlap == 0 {
		t.Error("the slow task's schedule skipped no run while it was running")
	}
}

func TestRunPeriodicTriggersNow(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	host := testenv.UniqueName(t, "host")
	var hourly runLog
	h.start(h.config(host), hourly.task("hourly", time.Hour, nil))
	id := PeriodicScheduleID(testTopic, host, "hourly")
	eventually(t, 10*time.Second, "the schedule to be listed", func() bool {
		ids, err := listScheduleIDs(context.Background(), h.c, periodicPrefix(testTopic, host))
		return err == nil && len(ids) == 1
	})

	got, err := TriggerPeriodic(context.Background(), h.c, testTopic, host, "hourly")
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("TriggerPeriodic = %+v, %v", got, err)
	}
	took := eventually(t, 10*time.Second, "the triggered run", func() bool { return hourly.count() == 1 })
	t.Logf("triggered run started after %s", took.Round(time.Millisecond))

	// A paused schedule runs once when triggered, and stays paused.
	ctx := context.Background()
	if err := h.c.ScheduleClient().GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	if got, err = TriggerPeriodic(ctx, h.c, testTopic, host, ""); err != nil || len(got) != 1 {
		t.Fatalf("TriggerPeriodic of all tasks = %+v, %v", got, err)
	}
	eventually(t, 10*time.Second, "the run of the paused schedule", func() bool { return hourly.count() == 2 })
	if !h.describe(id).Schedule.State.Paused {
		t.Error("the trigger unpaused the schedule")
	}
	if _, err := TriggerPeriodic(context.Background(), h.c, testTopic, host, "no_such_task"); err == nil {
		t.Error("TriggerPeriodic of an unknown task did not fail")
	}
}

func TestPauseOnStopUnpauseOnStartHandPausedStaysPaused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	run := func(context.Context) error { return nil }
	tasks := []managers.PeriodicTask{{Name: "ours", Spacing: time.Hour, Run: run}, {Name: "by_hand", Spacing: time.Hour, Run: run},
		{Name: "repaused", Spacing: time.Hour, Run: run}}
	reportID := ReportScheduleID(testBinary, cfg.Host)
	ours := PeriodicScheduleID(testTopic, cfg.Host, "ours")
	byHand := PeriodicScheduleID(testTopic, cfg.Host, "by_hand")
	repaused := PeriodicScheduleID(testTopic, cfg.Host, "repaused")

	first := h.start(cfg, tasks...)
	eventually(t, 10*time.Second, "the first report", func() bool { r := h.record(cfg.Host); return r != nil && r.ReportCount >= 1 })
	ctx := context.Background()
	if err := h.c.ScheduleClient().GetHandle(ctx, byHand).Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	first.Stop(ctx)
	for id, note := range map[string]string{reportID: StoppedNote, ours: StoppedNote, byHand: "maintenance"} {
		st := h.describe(id).Schedule.State
		if !st.Paused || st.Note != note {
			t.Errorf("after stop: %s paused=%t note=%q, want paused with %q", id, st.Paused, st.Note, note)
		}
	}
	stopped := h.record(cfg.Host).ReportCount
	// Pausing by hand a schedule the service paused replaces its note: it then
	// stays paused like any schedule paused by hand.
	if err := h.c.ScheduleClient().GetHandle(ctx, repaused).Pause(ctx, client.SchedulePauseOptions{Note: "hold"}); err != nil {
		t.Fatal(err)
	}

	second := h.start(cfg, tasks...)
	for id, want := range map[string]bool{reportID: false, ours: false, byHand: true, repaused: true} {
		if st := h.describe(id).Schedule.State; st.Paused != want {
			t.Errorf("after start: %s paused=%t note=%q, want paused=%t", id, st.Paused, st.Note, want)
		}
	}
	if st := h.describe(byHand).Schedule.State; st.Note != "maintenance" {
		t.Errorf("the hand-paused schedule's note is %q", st.Note)
	}
	if st := h.describe(repaused).Schedule.State; st.Note != "hold" {
		t.Errorf("the schedule paused again by hand has note %q", st.Note)
	}
	if second.logs.count("level=WARN", "paused by hand", byHand) != 1 {
		t.Error("the hand-paused schedule was not reported at start")
	}
	eventually(t, 10*time.Second, "reports after the restart", func() bool { return h.record(cfg.Host).ReportCount > stopped })
}

func TestKillDeletesSchedulesAndRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	svc := h.start(cfg, managers.PeriodicTask{Name: "task", Spacing: time.Hour, Run: func(context.Context) error { return nil }})
	eventually(t, 10*time.Second, "the schedules to be listed", func() bool {
		ids, err := listScheduleIDs(context.Background(), h.c, periodicPrefix(testTopic, cfg.Host))
		return err == nil && len(ids) == 1
	})
	if err := svc.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ReportScheduleID(testBinary, cfg.Host), PeriodicScheduleID(testTopic, cfg.Host, "task")} {
		if h.describe(id) != nil {
			t.Errorf("schedule %s survived kill", id)
		}
	}
	if h.record(cfg.Host) != nil {
		t.Error("the record survived kill")
	}
}

// TestReconcileAfterSettingsChange changes the settings in the environment
// and sends the service SIGHUP's Reset, so it does not run in parallel.
func TestReconcileAfterSettingsChange(t *testing.T) {
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	ctx := context.Background()

	// A schedule left by a task this service no longer declares.
	stale := PeriodicScheduleID(testTopic, cfg.Host, "gone")
	_, err := h.c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:     stale,
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{Workflow: activities.PeriodicName(testTopic, "gone"), TaskQueue: HostQueue(testTopic, cfg.Host)},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the stale schedule to be listed", func() bool {
		ids, err := listScheduleIDs(ctx, h.c, periodicPrefix(testTopic, cfg.Host))
		return err == nil && len(ids) == 1
	})

	run := func(context.Context) error { return nil }
	tasks := []managers.PeriodicTask{
		{Name: "a", Spacing: time.Hour, Run: run},
		{Name: "b", Spacing: 30 * time.Second, Run: run, ExternalProcessOK: true},
	}
	svc := h.start(cfg, tasks...)
	if h.describe(stale) != nil {
		t.Error("the stale schedule survived the start")
	}
	every := func(id string) time.Duration {
		d := h.describe(id)
		if d == nil {
			return 0
		}
		return d.Schedule.Spec.Intervals[0].Every
	}
	a, b := PeriodicScheduleID(testTopic, cfg.Host, "a"), PeriodicScheduleID(testTopic, cfg.Host, "b")
	report := ReportScheduleID(testBinary, cfg.Host)
	if every(a) != time.Hour || every(b) != 30*time.Second || every(report) != time.Second {
		t.Fatalf("at start: a every %s, b every %s, report every %s", every(a), every(b), every(report))
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
		for k, v := range base {
			t.Setenv(EnvPrefix+"_"+k, v)
		}
	}
	reset := func(step string) {
		t.Helper()
		start := time.Now()
		if err := svc.Reset(ctx); err != nil {
			t.Fatalf("%s: reset: %v", step, err)
		}
		t.Logf("%s: reset in %s", step, time.Since(start).Round(time.Millisecond))
	}

	// Same settings: nothing changes.
	setenv(nil)
	before := svc.logs.count("schedule created") + svc.logs.count("schedule updated") + svc.logs.count("schedule deleted")
	reset("unchanged settings")
	if after := svc.logs.count("schedule created") + svc.logs.count("schedule updated") + svc.logs.count("schedule deleted"); after != before {
		t.Errorf("a reset with the same settings changed %d schedules", after-before)
	}

	// Interval cap, slower reports, fuzzy delay, no external tasks.
	setenv(map[string]string{"PERIODIC_INTERVAL_MAX": "10m", "REPORT_INTERVAL": "2s", "PERIODIC_FUZZY_DELAY": "1m",
		"RUN_EXTERNAL_PERIODIC_TASKS": "false"})
	reset("new intervals")
	if every(a) != 10*time.Minute || every(report) != 2*time.Second || h.describe(b) != nil {
		t.Errorf("after reset: a every %s, report every %s, b exists %t", every(a), every(report), h.describe(b) != nil)
	}
	if j := h.describe(a).Schedule.Spec.Jitter; j != time.Minute {
		t.Errorf("a's jitter = %s, want the fuzzy delay 1m", j)
	}

	// Everything off.
	setenv(map[string]string{"PERIODIC_ENABLE": "false", "REPORT_INTERVAL": "0s"})
	reset("all off")
	for _, id := range []string{a, b, report} {
		if h.describe(id) != nil {
			t.Errorf("%s exists with reports and periodic tasks off", id)
		}
	}

	// Back on.
	setenv(nil)
	reset("back on")
	if every(a) != time.Hour || every(b) != 30*time.Second || every(report) != time.Second {
		t.Errorf("back on: a every %s, b every %s, report every %s", every(a), every(b), every(report))
	}
}

// TestScheduleIDs pins the IDs operators type.
func TestScheduleIDs(t *testing.T) {
	if got := ReportScheduleID("novaflow-compute", "node1"); got != "report:novaflow-compute:node1" {
		t.Errorf("ReportScheduleID = %q", got)
	}
	if got := PeriodicScheduleID("compute", "node1", "sync_power_states"); got != "periodic:compute:node1:sync_power_states" {
		t.Errorf("PeriodicScheduleID = %q", got)
	}
	if !strings.HasPrefix(StoppedNote, NotePrefix) || !strings.HasPrefix(StartedNote, NotePrefix) {
		t.Error("the service's notes do not start with NotePrefix")
	}
}
