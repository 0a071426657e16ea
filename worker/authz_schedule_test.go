package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

// TestEditedScheduleRefused: with authorization on, a schedule whose action
// a namespace writer edited is not the framework's: a status report whose
// input claims hosts alive (asked, alive: a host that does not run) is
// refused with PolicyDenied when its schedule starts it, and writes no row;
// a periodic run whose input asks for a year-long spread waits at most this
// host's NOVAFLOW_PERIODIC_FUZZY_DELAY (0 here), so the task still runs.
func TestEditedScheduleRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	key, jwks, err := auth.GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.test"
	service, err := auth.Issue(key, auth.Claims{Issuer: issuer, Audience: "novaflow", Subject: "svc", Roles: []string{"service"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, jwks, issuer, service
	var hourly runLog
	h.start(cfg, hourly.task("hourly", time.Hour, nil))

	edit := func(id string, arg any) { h.editAction(id, arg) }
	trigger := h.triggerRun
	// The report: claims a host alive that runs nothing.
	ghost := testenv.UniqueName(t, "ghost")
	reportID := ReportScheduleID(h.topic)
	edit(reportID, workflows.ReportRequest{Topic: h.topic, Asked: true, Alive: []workflows.Alive{{Host: ghost, Binary: h.binary}}})
	wid, rid := trigger(reportID)
	var run workflows.ReportRunResult
	err = h.c.GetWorkflow(ctx, wid, rid).Get(ctx, &run)
	if err == nil || !strings.Contains(err.Error(), policy.DeniedType) {
		t.Errorf("a report of an edited schedule: %+v, %v; want it refused with %s", run, err, policy.DeniedType)
	}
	if r := h.record(ghost); r != nil {
		t.Errorf("the edited report wrote a row for %s: %+v", ghost, r)
	}

	// A periodic run asking each host to wait up to a year runs now.
	taskID := PeriodicScheduleID(h.topic, "hourly")
	edit(taskID, workflows.PeriodicRequest{Topic: h.topic, Task: "hourly", Spread: "8760h"})
	trigger(taskID)
	eventually(t, 15*time.Second, "the task to run despite the edited spread", func() bool { return hourly.count() >= 1 })
}

// editAction sets the input of schedule id's action to arg, as a namespace
// writer may, and returns the input it had.
func (h *harness) editAction(id string, arg any) any {
	h.t.Helper()
	ctx := context.Background()
	var was any
	err := h.c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		sched := in.Description.Schedule
		a := sched.Action.(*client.ScheduleWorkflowAction)
		was, a.Args = a.Args[0], []any{arg}
		return &client.ScheduleUpdate{Schedule: &sched}, nil
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	return was
}

// triggerRun ends the open runs of schedule id and starts one; it returns
// the new run's workflow ID and run ID once the schedule's record names it.
func (h *harness) triggerRun(id string) (string, string) {
	h.t.Helper()
	t := h.t
	ctx := context.Background()
	hd := h.c.ScheduleClient().GetHandle(ctx, id)
	old := map[string]bool{}
	for _, a := range h.describe(id).Info.RecentActions {
		old[a.StartWorkflowResult.FirstExecutionRunID] = true
	}
	for _, w := range h.describe(id).Info.RunningWorkflows {
		old[w.FirstExecutionRunID] = true
		_ = h.c.TerminateWorkflow(ctx, w.WorkflowID, w.FirstExecutionRunID, "test: the schedule's action was edited")
	}
	if err := hd.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
		t.Fatal(err)
	}
	var wid, rid string
	deadline := time.Now().Add(15 * time.Second)
	for wid == "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		for _, a := range h.describe(id).Info.RecentActions {
			if w := a.StartWorkflowResult; w != nil && !old[w.FirstExecutionRunID] {
				wid, rid = w.WorkflowID, w.FirstExecutionRunID
				break
			}
		}
	}
	if wid == "" {
		d := h.describe(id)
		for _, a := range d.Info.RecentActions {
			t.Logf("recent: %+v", a.StartWorkflowResult)
		}
		t.Fatalf("no new run of schedule %s within 15 s (running: %+v, old %v)", id, d.Info.RunningWorkflows, old)
	}
	return wid, rid
}
