package main

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
)

// benchTopic is the topic of the bench manager: one method, ping, that
// does no work, so that a call measures the framework and Temporal only.
const benchTopic = "bench"

func init() {
	managers.Register(managers.Definition{
		Name:        benchTopic,
		Topic:       benchTopic,
		Version:     1,
		RPCVersions: map[int]string{1: "1.0"},
		New: func(deps managers.Deps) (managers.Manager, error) {
			return &benchManager{host: deps.Host}, nil
		},
	})
}

// pingRequest is the request of bench.ping and of the raw-SDK baseline.
type pingRequest struct {
	Seq int `json:"seq"`
}

// pingResult is its result.
type pingResult struct {
	Seq  int    `json:"seq"`
	Host string `json:"host"`
}

// benchManager answers ping on its host.
type benchManager struct {
	host string
}

func (m *benchManager) PeriodicTasks() []managers.PeriodicTask { return nil }

func (m *benchManager) RPCMethods() []managers.Method {
	return []managers.Method{managers.NewMethod("ping", "1.0", m.ping)}
}

func (m *benchManager) ping(_ context.Context, req pingRequest) (pingResult, error) {
	return pingResult{Seq: req.Seq, Host: m.host}, nil
}

// The raw-SDK baseline: the same work without novaflow. A workflow
// (rawCallName) runs activity rawPingName on a host queue, or as a local
// activity; the activity answers as ping does.
const (
	rawCallName = "raw.call"
	rawPingName = "raw.ping"
)

// rawCall is the input of the raw workflow.
type rawCall struct {
	Seq int `json:"seq"`
	// Queue is the activity's task queue (the host queue).
	Queue string `json:"queue"`
	// Local runs the activity as a local activity instead.
	Local bool `json:"local,omitempty"`
	// Versioned first asks workflow.GetVersion, as novaflow's RPC
	// workflow does before it runs a method locally (probe only).
	Versioned bool `json:"versioned,omitempty"`
}

// rawCallWorkflow is the raw-SDK equivalent of an RPC execution: one
// activity on the host queue with a deadline and retries, as novaflow's.
func rawCallWorkflow(ctx workflow.Context, req rawCall) (pingResult, error) {
	var res pingResult
	if req.Versioned {
		workflow.GetVersion(ctx, "bench-probe", workflow.DefaultVersion, 1)
	}
	if req.Local {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: time.Minute})
		err := workflow.ExecuteLocalActivity(ctx, rawPingName, pingRequest{Seq: req.Seq}).Get(ctx, &res)
		return res, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              req.Queue,
		ScheduleToStartTimeout: time.Minute,
		ScheduleToCloseTimeout: time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
	err := workflow.ExecuteActivity(ctx, rawPingName, pingRequest{Seq: req.Seq}).Get(ctx, &res)
	return res, err
}

// rawPing is the raw baseline's activity.
func rawPing(_ context.Context, req pingRequest) (pingResult, error) {
	return pingResult{Seq: req.Seq, Host: "h1"}, nil
}

// registerRaw puts the raw workflow and activity on w.
func registerRaw(w sdkworker.Worker) {
	w.RegisterWorkflowWithOptions(rawCallWorkflow, workflow.RegisterOptions{Name: rawCallName})
	w.RegisterActivityWithOptions(rawPing, activity.RegisterOptions{Name: rawPingName})
}
