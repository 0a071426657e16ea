package worker

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/testenv"
)

// TestScheduleDropsStoredToken: a topic's schedules whose action holds a
// token in its header (created by a service of an earlier release, which
// made them with its own token) are updated by the next service of the
// topic to start, without one: a schedule keeps its header for every run,
// and that token expires (the runs' calls would then be refused).
func TestScheduleDropsStoredToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	var hourly runLog
	h.start(h.config(testenv.UniqueName(t, "host")), hourly.task("hourly", time.Hour, nil))
	ids := []string{ReportScheduleID(h.topic), PeriodicScheduleID(h.topic, "hourly")}
	ws := h.c.WorkflowService()
	describe := func(id string) *workflowservice.DescribeScheduleResponse {
		t.Helper()
		d, err := ws.DescribeSchedule(ctx, &workflowservice.DescribeScheduleRequest{Namespace: h.tmp.Namespace(), ScheduleId: id})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	held := func(id string) bool {
		_, ok := describe(id).GetSchedule().GetAction().GetStartWorkflow().GetHeader().GetFields()[auth.HeaderKey]
		return ok
	}
	stale, err := converter.GetDefaultDataConverter().ToPayload("a-token-of-an-earlier-release")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if held(id) {
			t.Fatalf("schedule %s was created with a token in its header", id)
		}
		d := describe(id)
		sched := d.GetSchedule()
		sched.GetAction().GetStartWorkflow().Header = &commonpb.Header{Fields: map[string]*commonpb.Payload{auth.HeaderKey: stale}}
		if _, err := ws.UpdateSchedule(ctx, &workflowservice.UpdateScheduleRequest{Namespace: h.tmp.Namespace(), ScheduleId: id,
			Schedule: sched, ConflictToken: d.GetConflictToken(), Identity: "test", RequestId: rand.Text()}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the token in schedule "+id, func() bool { return held(id) })
	}

	// The next service of the topic to start drops it.
	h.start(h.config(testenv.UniqueName(t, "host2")), hourly.task("hourly", time.Hour, nil))
	for _, id := range ids {
		eventually(t, 10*time.Second, "schedule "+id+" without a token", func() bool { return !held(id) })
	}
}
