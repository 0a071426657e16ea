package rpc

import (
	"encoding/json"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// On the target host's own queue the method runs as a local activity, with
// the call's deadline; on the topic's queue as an activity on the host's.
func TestRunMethodLocalOnHostQueue(t *testing.T) {
	tests := []struct {
		name, queue, input string
		local              bool
	}{
		{"host queue", testTopic + ".h1", `{"msg":"x"}`, true},
		{"host queue and field", testTopic + ".h1", `{"msg":"x","host":"h1"}`, true},
		{"another host's queue", testTopic + ".h1", `{"msg":"x","host":"h2"}`, false},
		{"topic queue", testTopic, `{"msg":"x","host":"h1"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, s := newEnv(t)
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: tt.queue, WorkflowExecutionTimeout: 20 * time.Second})
			env.ExecuteWorkflow("wftest.echo", json.RawMessage(tt.input))
			var got echoResp
			if err := env.GetWorkflowResult(&got); err != nil || got.Msg != "x" {
				t.Fatalf("result %+v, %v", got, err)
			}
			infos := s.list()
			if len(infos) != 1 {
				t.Fatalf("%d activities, want 1", len(infos))
			}
			if a := infos[0]; a.IsLocalActivity != tt.local || a.ScheduleToCloseTimeout != 18*time.Second {
				t.Errorf("local %v, schedule-to-close %s; want local %v, 18s", a.IsLocalActivity, a.ScheduleToCloseTimeout, tt.local)
			}
		})
	}
}

// A typed error of a local method comes back typed and is not retried.
func TestRunMethodLocalTypedError(t *testing.T) {
	env, s := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{TaskQueue: testTopic + ".h1", WorkflowExecutionTimeout: 20 * time.Second})
	env.ExecuteWorkflow("wftest.missing", json.RawMessage(`{"msg":"m"}`))
	if e := typedError(t, env.GetWorkflowError()); e.Type != "NotFound" {
		t.Errorf("error %v, want NotFound", e)
	}
	if n := len(s.list()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}
