package worker

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

var record = flag.String("record", "", "write the histories of a periodic run and a status report run to ../workflows/testdata/<kind>_<this value>.json, for their replay test (TestFrameworkReplay)")

// TestRecordFrameworkRuns records, with -record <suffix>, the history of a
// periodic task's run over two hosts and of a status report run of three
// reports, for workflows' TestFrameworkReplay: a change to the framework's
// workflows that breaks the runs a previous build started fails there.
func TestRecordFrameworkRuns(t *testing.T) {
	if *record == "" {
		t.Skip("records histories with -record <suffix>")
	}
	h := newHarness(t)
	var hourly runLog
	names := []string{testenv.UniqueName(t, "host"), testenv.UniqueName(t, "host")}
	for _, n := range names {
		h.start(h.config(n), hourly.task("hourly", time.Hour, nil))
	}
	eventually(t, 30*time.Second, "both hosts up", func() bool {
		for _, n := range names {
			if st, _ := h.status(n, 10*time.Second); st != servicegroup.Up {
				return false
			}
		}
		return true
	})
	wid, rid := h.triggerRun(PeriodicScheduleID(h.topic, "hourly"))
	if res := h.runResult(wid, rid); res.Ran != 2 {
		t.Fatalf("the periodic run: %+v, want 2 hosts run", res)
	}
	h.recordHistory(wid, rid, "periodic_"+*record+".json")

	// The report's running run: three reports (one a second), then ended.
	id := ReportScheduleID(h.topic)
	running := h.describe(id).Info.RunningWorkflows
	if len(running) != 1 {
		t.Fatalf("report runs going: %+v, want one", running)
	}
	w := running[0]
	time.Sleep(3500 * time.Millisecond)
	if err := h.c.TerminateWorkflow(context.Background(), w.WorkflowID, w.FirstExecutionRunID, "test: recorded"); err != nil {
		t.Fatal(err)
	}
	h.recordHistory(w.WorkflowID, w.FirstExecutionRunID, "report_"+*record+".json")
}

// recordedIdentity is the SDK's default worker identity (<pid>@<host>).
var recordedIdentity = regexp.MustCompile(`"identity":\s*"\d+@[^"]*"`)

// recordHistory writes the history of run id/runID to
// ../workflows/testdata/file, without the machine's name.
func (h *harness) recordHistory(id, runID, file string) {
	h.t.Helper()
	iter := h.c.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var hist historypb.History
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			h.t.Fatal(err)
		}
		hist.Events = append(hist.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&hist)
	if err != nil {
		h.t.Fatal(err)
	}
	b = recordedIdentity.ReplaceAll(b, []byte(`"identity": "test"`))
	if host, err := os.Hostname(); err == nil && host != "" {
		b = bytes.ReplaceAll(b, []byte(`"`+host+`:`), []byte(`"recorder:`))
		b = bytes.ReplaceAll(b, []byte(host), []byte("recorder"))
	}
	if err := os.WriteFile(filepath.Join("..", "workflows", "testdata", file), b, 0o644); err != nil {
		h.t.Fatal(err)
	}
}
