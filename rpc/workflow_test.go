package rpc_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
)

type callerResult struct {
	Echo       echoResp `json:"echo"`
	FailType   string   `json:"fail_type"`
	FailField  string   `json:"fail_field"`
	DeadHost   bool     `json:"dead_host_timeout"`
	Fanout     []string `json:"fanout"`
	CastID     string   `json:"cast_id"`
	CastIDJSON string   `json:"cast_id_again"`
}

// callerWorkflow is a workflow of another service that calls the topic's
// methods with the workflow-side API.
func callerWorkflow(ctx workflow.Context, topic string) (callerResult, error) {
	var r callerResult
	if err := rpc.CallFromWorkflow(ctx, topic, "echo", echoReq{Msg: "from a workflow"}, &r.Echo, rpc.ToHost("h2")); err != nil {
		return r, err
	}
	err := rpc.CallFromWorkflow(ctx, topic, "fail", failReq{Type: managers.InvalidArgumentType, Field: "name", Message: "bad"}, nil)
	if e, ok := managers.AsError(err); ok {
		r.FailType, r.FailField = e.Type, e.Field
	}
	err = rpc.CallFromWorkflow(ctx, topic, "echo", echoReq{Msg: "x"}, nil, rpc.ToHost("ghost"), rpc.Timeout(3*time.Second))
	r.DeadHost = rpc.IsTimeout(err)
	hosts, err := rpc.FanoutFromWorkflow(ctx, topic, "where", nil)
	if err != nil {
		return r, err
	}
	for _, h := range hosts {
		if h.Err == nil {
			r.Fanout = append(r.Fanout, h.Host)
		}
	}
	exec, err := rpc.CastFromWorkflow(ctx, topic, "count", keyReq{Key: "wfcast"}, rpc.RequestID("wf-cast"))
	if err != nil {
		return r, err
	}
	r.CastID = exec.WorkflowID
	again, err := rpc.CastFromWorkflow(ctx, topic, "count", keyReq{Key: "wfcast"}, rpc.RequestID("wf-cast"))
	if err != nil {
		return r, err
	}
	r.CastIDJSON = again.WorkflowID
	return r, nil
}

func TestFromWorkflow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	queue := testenv.UniqueName(t, "caller")
	w := sdkworker.New(f.temporal, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(callerWorkflow, workflow.RegisterOptions{Name: "caller"})
	// A worker of its own registers what versioned calls from its
	// workflows need, with its settings (a service does it by itself).
	f.client(rpc.Options{}).RegisterActivities(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	ctx := context.Background()
	run, err := f.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: time.Minute}, "caller", f.topic)
	if err != nil {
		t.Fatal(err)
	}
	var r callerResult
	if err := run.Get(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if r.Echo.Host != "h2" || r.Echo.Msg != "from a workflow" {
		t.Errorf("call: %+v", r.Echo)
	}
	if r.FailType != managers.InvalidArgumentType || r.FailField != "name" {
		t.Errorf("typed error: %s of %q", r.FailType, r.FailField)
	}
	if !r.DeadHost {
		t.Error("a call to a dead host did not time out")
	}
	if len(r.Fanout) != 2 || r.Fanout[0] != "h1" || r.Fanout[1] != "h2" {
		t.Errorf("fanout reached %v, want h1 and h2", r.Fanout)
	}
	if r.CastID != rpc.WorkflowID(f.topic, "count", "", "wf-cast") || r.CastIDJSON != r.CastID {
		t.Errorf("casts %s and %s", r.CastID, r.CastIDJSON)
	}
	c := f.client(rpc.Options{})
	var got keyResp
	if err := c.Result(ctx, rpc.Execution{WorkflowID: r.CastID}, &got); err != nil || got.Runs != 1 {
		t.Errorf("cast from a workflow: %+v, %v", got, err)
	}
}
