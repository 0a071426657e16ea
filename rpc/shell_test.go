package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

// TestRawJSONInput starts the RPC workflows as `temporal workflow start`
// does: a plain JSON payload, no search attributes, no timeout.
func TestRawJSONInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	ctx := context.Background()

	var got echoResp
	run, err := f.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: f.topic}, f.topic+".echo",
		json.RawMessage(`{"msg":"from the shell","host":"h1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, &got); err != nil || got.Msg != "from the shell" || got.Host != "h1" {
		t.Fatalf("result %+v, %v", got, err)
	}

	tests := []struct {
		name, input, field string
	}{
		{"unknown field", `{"msg":"x","colour":"red"}`, "colour"},
		{"wrong type", `{"msg":["x"]}`, "msg"},
		{"missing required", `{"instance_uuid":"u-1"}`, "msg"},
		{"not an object", `"just a string"`, ""},
		{"bad host", `{"msg":"x","host":42}`, "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			run, err := f.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: f.topic}, f.topic+".echo", json.RawMessage(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			err = run.Get(ctx, nil)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != managers.InvalidArgumentType || !appErr.NonRetryable() {
				t.Fatalf("error %v, want a non-retryable InvalidArgument", err)
			}
			if e := asError(t, activities.FromApplicationError(err)); e.Field != tt.field {
				t.Errorf("error %v names field %q, want %q", e, e.Field, tt.field)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failing took %s", d)
			}
			if events := f.historyEvents(run.GetID()); hasEvent(events, enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
				t.Errorf("a bad request was dispatched: %v", events)
			}
		})
	}
}

// TestTemporalCLI calls the services with the pinned temporal CLI itself.
func TestTemporalCLI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli, err := devstack.TemporalCLI(ctx, nil)
	if err != nil {
		t.Fatalf("temporal CLI: %v", err)
	}
	temporalCLI := func(args ...string) (string, error) {
		args = append(args, "--address", f.srv.Address(), "--namespace", f.srv.Namespace())
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	out, err := temporalCLI("workflow", "execute", "--task-queue", f.topic, "--type", f.topic+".echo",
		"--workflow-id", "cli-echo", "--input", `{"host":"h2","msg":"hi","instance_uuid":"u-7"}`, "-o", "json")
	if err != nil {
		t.Fatalf("workflow execute: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"host": "h2"`) && !strings.Contains(out, `"host":"h2"`) {
		t.Errorf("execute output lacks the result from h2:\n%s", out)
	}

	// Started without an execution timeout: the workflow recorded the
	// service's cast timeout as its deadline, asked for heartbeats, and set
	// its search attributes itself.
	var sched *historyScheduled
	it := f.temporal.GetWorkflowHistory(ctx, "cli-echo", "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			sched = &historyScheduled{queue: a.GetTaskQueue().GetName(), toClose: a.GetScheduleToCloseTimeout().AsDuration(), heartbeat: a.GetHeartbeatTimeout().AsDuration()}
		}
	}
	if sched == nil {
		t.Fatal("no activity in the history")
	}
	if sched.queue != f.topic+".h2" || sched.toClose > time.Hour-2*time.Second || sched.toClose < time.Hour-time.Minute || sched.heartbeat != rpc.HeartbeatTimeout {
		t.Errorf("activity %+v, want on %s.h2 within 59m58s with heartbeats", *sched, f.topic)
	}
	list, err := temporalCLI("workflow", "list", "--query", `NovaflowHost="h2" AND NovaflowTopic="`+f.topic+`" AND NovaflowInstance="u-7"`)
	for i := 0; err == nil && !strings.Contains(list, "cli-echo") && i < 50; i++ {
		time.Sleep(200 * time.Millisecond)
		list, err = temporalCLI("workflow", "list", "--query", `NovaflowHost="h2" AND NovaflowTopic="`+f.topic+`" AND NovaflowInstance="u-7"`)
	}
	if err != nil || !strings.Contains(list, "cli-echo") {
		t.Errorf("workflow list by NovaflowHost: %v\n%s", err, list)
	}

	out, err = temporalCLI("workflow", "execute", "--task-queue", f.topic, "--type", f.topic+".echo",
		"--input", `{"msg":"hi","colour":"red"}`)
	if err == nil || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, "colour") {
		t.Errorf("bad input: %v\n%s\nwant a failure naming InvalidArgument and the field", err, out)
	}

	// The same request ID twice from the shell: one run.
	id := f.topic + ".count/h1/req-42"
	for i := 0; i < 2; i++ {
		out, err = temporalCLI("workflow", "execute", "--task-queue", f.topic, "--type", f.topic+".count",
			"--workflow-id", id, "--id-conflict-policy", "UseExisting", "--id-reuse-policy", "RejectDuplicate",
			"--input", `{"host":"h1","key":"cli"}`)
		t.Logf("execute %d of the same ID: %v\n%s", i+1, err, out)
	}
	if n := f.st.count("cli"); n != 1 {
		t.Errorf("the same workflow ID from the shell ran %d times, want once", n)
	}

	out, err = temporalCLI("workflow", "execute", "--task-queue", f.topic, "--type", f.topic+".where",
		"--input", `{"host":"*"}`, "--execution-timeout", "20s", "-o", "json")
	var fanout struct {
		Result struct { // the fanout's JSON result, as the shell shows it
			Hosts []struct {
				Host   string          `json:"host"`
				Result json.RawMessage `json:"result"`
				Error  *struct {
					Type string `json:"type"`
				} `json:"error"`
			} `json:"hosts"`
		} `json:"result"`
	}
	if err != nil || json.Unmarshal([]byte(out), &fanout) != nil {
		t.Fatalf("fanout from the shell: %v\n%s", err, out)
	}
	var h2 whereResp
	if hosts := fanout.Result.Hosts; len(hosts) != 2 || hosts[0].Host != "h1" || hosts[1].Host != "h2" ||
		json.Unmarshal(hosts[1].Result, &h2) != nil || h2.RanOn != "h2" {
		t.Errorf("fanout from the shell:\n%s", out)
	}
}

type historyScheduled struct {
	queue              string
	toClose, heartbeat time.Duration
}
