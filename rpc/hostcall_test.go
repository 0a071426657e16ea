package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

// A call to a host runs its workflow on the host's queue and the method as
// a local activity there: one workflow task, no activity task; with the
// same typed errors, retries and timeouts as an activity.
func TestCallToHostRunsLocally(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	c := f.client(rpc.Options{})
	ctx := context.Background()

	var got echoResp
	if err := c.Call(ctx, f.topic, "echo", echoReq{Msg: "x"}, &got, rpc.ToHost("h2"), rpc.RequestID("local-1")); err != nil {
		t.Fatal(err)
	}
	if got.Host != "h2" || !got.InActivity {
		t.Errorf("result %+v, want run in an activity on h2", got)
	}
	id := rpc.WorkflowID(f.topic, "echo", "h2", "local-1")
	desc, err := f.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if q := desc.GetWorkflowExecutionInfo().GetTaskQueue(); q != f.topic+".h2" {
		t.Errorf("workflow on task queue %s, want %s.h2", q, f.topic)
	}
	events := f.historyEvents(id)
	if hasEvent(events, enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) || !hasEvent(events, enums.EVENT_TYPE_MARKER_RECORDED) {
		t.Errorf("history %v, want a local activity marker and no activity task", events)
	}

	err = c.Call(ctx, f.topic, "fail", failReq{Type: managers.NotFoundType, Message: "gone"}, nil, rpc.ToHost("h1"))
	if e := asError(t, err); e.Type != managers.NotFoundType || e.Message != "gone" {
		t.Errorf("typed error %v, want NotFound: gone", err)
	}

	err = c.Call(ctx, f.topic, "fail", failReq{Type: managers.UnavailableType, Message: "busy"}, nil, rpc.ToHost("h1"), rpc.Timeout(3*time.Second))
	if !rpc.IsTimeout(err) || !strings.Contains(err.Error(), "busy") {
		t.Errorf("Unavailable: %v, want a timeout whose last failure is Unavailable: busy", err)
	}

	var flaky keyResp
	if err := c.Call(ctx, f.topic, "flaky", keyReq{Key: "k", Failures: 2}, &flaky, rpc.ToHost("h1")); err != nil {
		t.Fatal(err)
	}
	if flaky.Runs != 3 || flaky.Host != "h1" {
		t.Errorf("flaky %+v, want 3 runs on h1 (two failures retried)", flaky)
	}
	err = c.Call(ctx, f.topic, "flaky", keyReq{Key: "always", Failures: 100}, nil, rpc.ToHost("h1"), rpc.Timeout(4*time.Second))
	if !rpc.IsTimeout(err) || !strings.Contains(err.Error(), "transient failure") {
		t.Errorf("retries out of time: %v, want a timeout naming the last failure", err)
	}
	if n := f.st.count("always"); n < 2 {
		t.Errorf("ran %d times in 4s, want retries", n)
	}
}
