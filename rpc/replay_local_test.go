package rpc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/workflows"
)

// TestReplayHostQueue replays executions started on a host's own queue
// (`temporal workflow start --task-queue <topic>.h1`, as rpc.Client now
// starts calls to a host): one recorded before the method ran there as a
// local activity (workflows.LocalMethodChange), which must keep its
// activity, and one recorded after, with the local activity. The first was
// recorded with the code before that change, the second with the code after
// it, each from a start of echo on <topic>.h1 with {"msg":"x","instance_uuid":"u-3"}.
func TestReplayHostQueue(t *testing.T) {
	for _, name := range []string{"host-queue-activity", "host-queue-local"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".history.json"))
			if err != nil {
				t.Fatal(err)
			}
			hist, err := client.HistoryFromJSON(strings.NewReader(string(data)), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			typ := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
			topic, _, _ := strings.Cut(typ, ".")
			var echo = testMethods("", nil)[0]
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.MethodWorkflow(topic, echo, workflows.RPCOptions{DefaultTimeout: time.Hour}), workflow.RegisterOptions{Name: typ})
			if err := r.ReplayWorkflowHistory(nil, hist); err != nil {
				t.Errorf("replay %s: %v", name, err)
			}
		})
	}
}
