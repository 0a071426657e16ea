package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/workflows"
)

// TestFrameworkReplay replays recorded histories of a periodic task's run
// over two hosts and of a status report run (go test ./worker -run
// TestRecordFrameworkRuns -args -record <suffix> records them again): a
// change to these workflows that would break the runs an earlier build
// started (a rolling update moves them to the new build at their next
// workflow task) fails here.
func TestFrameworkReplay(t *testing.T) {
	for _, file := range []string{
		// Recorded before a run checked itself (no novaflow.check_run):
		// kept while a run started on that code may still go on.
		"periodic_before_check.json", "report_before_check.json",
		// Recorded with the check at the run's start, behind its
		// workflow.GetVersion gate: kept for the runs that code started,
		// and for runs whose input does not say check.
		"periodic_checked.json", "report_checked.json",
		// Recorded with the check and no gate: the input the services'
		// schedules give says check.
		"periodic_ungated.json", "report_ungated.json",
	} {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			name := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
			r := worker.NewWorkflowReplayer()
			switch {
			case strings.HasSuffix(name, "."+workflows.ReportStateMethod):
				r.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: name})
			case strings.Contains(name, ".periodic."):
				r.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
			default:
				t.Fatalf("%s: workflow type %q is no framework workflow", file, name)
			}
			logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
			if err := r.ReplayWorkflowHistory(logger, h); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}
