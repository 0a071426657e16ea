package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/rpc"
)

var record = flag.Bool("record", false, "record the histories of testdata/*.history.json on the real server before replaying them")

// The recorded executions: what the RPC workflow does for each kind of start.
var replayCases = []struct {
	name string
	run  func(t *testing.T, f *fixture) string // returns the workflow ID
}{
	{"call", func(t *testing.T, f *fixture) string {
		c := f.client(rpc.Options{})
		err := c.Call(context.Background(), f.topic, "echo", echoReq{Msg: "x", InstanceUUID: "u-1"}, nil,
			rpc.ToHost("h1"), rpc.Version("1.0"), rpc.RequestID("replay"))
		if err != nil {
			t.Fatal(err)
		}
		return rpc.WorkflowID(f.topic, "echo", "h1", "replay")
	}},
	{"shell", func(t *testing.T, f *fixture) string {
		run, err := f.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "replay-shell", TaskQueue: f.topic},
			f.topic+".echo", json.RawMessage(`{"msg":"x","host":"h2","instance_uuid":"u-2"}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		return run.GetID()
	}},
	// Started on a host's own queue, as rpc.Client starts calls to a host
	// and `temporal workflow start --task-queue <topic>.h1` does: the method
	// runs as a local activity.
	{"host-queue", func(t *testing.T, f *fixture) string {
		run, err := f.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "replay-host-queue", TaskQueue: f.topic + ".h1"},
			f.topic+".echo", json.RawMessage(`{"msg":"x","instance_uuid":"u-3"}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		return run.GetID()
	}},
	{"invalid", func(t *testing.T, f *fixture) string {
		run, err := f.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "replay-invalid", TaskQueue: f.topic},
			f.topic+".echo", json.RawMessage(`{"msg":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(context.Background(), nil); err == nil {
			t.Fatal("an invalid request succeeded")
		}
		return run.GetID()
	}},
	{"fanout", func(t *testing.T, f *fixture) string {
		c := f.client(rpc.Options{})
		if _, err := c.Fanout(context.Background(), f.topic, "where", nil, rpc.RequestID("replay")); err != nil {
			t.Fatal(err)
		}
		return rpc.WorkflowID(f.topic, "where", rpc.AllHosts, "replay")
	}},
	{"retry", func(t *testing.T, f *fixture) string {
		c := f.client(rpc.Options{})
		if err := c.Call(context.Background(), f.topic, "flaky", keyReq{Key: "k", Failures: 1}, nil, rpc.RequestID("replay")); err != nil {
			t.Fatal(err)
		}
		return rpc.WorkflowID(f.topic, "flaky", "", "replay")
	}},
}

// TestReplay replays recorded histories of the RPC workflow with the
// current code: a change that would break running executions fails here.
func TestReplay(t *testing.T) {
	if *record {
		recordHistories(t)
	}
	for _, tc := range replayCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name+".history.json")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestReplay -record records it)", err)
			}
			hist, err := client.HistoryFromJSON(strings.NewReader(string(data)), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			typ := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
			topic, method, ok := strings.Cut(typ, ".")
			if !ok {
				t.Fatalf("workflow type %q", typ)
			}
			var m managers.Method
			for _, cand := range testMethods("", nil) {
				if cand.Name == method {
					m = cand
				}
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(rpc.MethodWorkflow(topic, m, rpc.WorkflowOptions{DefaultTimeout: time.Hour}), workflow.RegisterOptions{Name: typ})
			if err := r.ReplayWorkflowHistory(nil, hist); err != nil {
				t.Errorf("replay %s: %v", path, err)
			}
		})
	}
}

// recordHistories runs each replay case on the real server and writes its
// history to testdata.
func recordHistories(t *testing.T) {
	f := newFixture(t)
	f.start("h1")
	f.start("h2")
	for _, tc := range replayCases {
		id := tc.run(t, f)
		var hist historypb.History
		it := f.temporal.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			// The starter's identity names this machine; keep it out.
			if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				a.Identity = "rpc-test"
			}
			hist.Events = append(hist.Events, e)
		}
		data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&hist)
		if err != nil {
			t.Fatal(err)
		}
		// Sticky queues are named after the machine; keep it out too.
		if host, err := os.Hostname(); err == nil && host != "" {
			data = bytes.ReplaceAll(data, []byte(`"`+host+`:`), []byte(`"recorder:`))
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", tc.name+".history.json"), append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s (%d events)", tc.name, len(hist.Events))
	}
}
