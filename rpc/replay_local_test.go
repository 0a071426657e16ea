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

	"github.com/novaflow/novaflow/rpc"
)

// TestReplayHostQueue replays an execution started on a host's own queue
// (`temporal workflow start --task-queue <topic>.h1`) that was recorded
// while the local activity there was behind workflow.GetVersion: its version
// marker and TemporalChangeVersion upsert must not break a replay now that
// the workflow no longer asks (the shape depends only on the start, see
// workflows.RunMethod). TestReplay's host-queue case has the history the
// code records now.
func TestReplayHostQueue(t *testing.T) {
	for _, name := range []string{"host-queue-local"} {
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
			r.RegisterWorkflowWithOptions(rpc.MethodWorkflow(topic, echo, rpc.WorkflowOptions{DefaultTimeout: time.Hour}), workflow.RegisterOptions{Name: typ})
			if err := r.ReplayWorkflowHistory(nil, hist); err != nil {
				t.Errorf("replay %s: %v", name, err)
			}
		})
	}
}
