package devstack

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/novaflow/novaflow/workflows"
)

func TestTemporalServerArgs(t *testing.T) {
	tests := []struct {
		fileBacked bool
		want       []string
	}{
		{false, []string{
			"--dynamic-config-value", "history.transferProcessorMaxPollRPS=10000",
			"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
			"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
			"--dynamic-config-value", "worker.schedulerNamespaceStartWorkflowRPS=10000",
			"--dynamic-config-value", "frontend.namespaceCount=10000",
			"--dynamic-config-value", "frontend.WorkerHeartbeatsEnabled=true",
			"--dynamic-config-value", "frontend.ListWorkersEnabled=true",
		}},
		{true, []string{
			"--dynamic-config-value", "history.transferProcessorMaxPollRPS=10000",
			"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
			"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
			"--dynamic-config-value", "worker.schedulerNamespaceStartWorkflowRPS=10000",
			"--dynamic-config-value", "frontend.namespaceCount=10000",
			"--dynamic-config-value", "frontend.WorkerHeartbeatsEnabled=true",
			"--dynamic-config-value", "frontend.ListWorkersEnabled=true",
			"--sqlite-pragma", "journal_mode=WAL",
			"--sqlite-pragma", "synchronous=NORMAL",
		}},
	}
	for _, tt := range tests {
		if got := TemporalServerArgs(tt.fileBacked); !slices.Equal(got, tt.want) {
			t.Errorf("TemporalServerArgs(%v) = %q, want %q", tt.fileBacked, got, tt.want)
		}
	}
}

func TestTemporalCommand(t *testing.T) {
	args, err := temporalCommand(TemporalOptions{
		HostPort:         "127.0.0.1:7233",
		Namespace:        "ns",
		LogLevel:         "warn",
		DBFilename:       "t.db",
		SearchAttributes: workflows.SearchAttributes(),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{
		"server start-dev --ip 127.0.0.1 --port 7233 --namespace ns",
		"--headless",
		"--db-filename t.db",
		"--search-attribute NovaflowHost=Keyword --search-attribute NovaflowInstance=Keyword --search-attribute NovaflowMethod=Keyword --search-attribute NovaflowTopic=Keyword",
		"--sqlite-pragma journal_mode=WAL",
		"matching.numTaskqueueReadPartitions=1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("command %q lacks %q", got, want)
		}
	}
}

func TestStartTemporal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		dbFile bool
	}{{"in memory", false}, {"file backed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			opts := TemporalOptions{Progress: os.Stderr, Namespace: "novaflow-test"}
			if tt.dbFile {
				opts.DBFilename = filepath.Join(t.TempDir(), "temporal.db")
			}
			start := time.Now()
			srv, err := StartTemporal(ctx, opts)
			if err != nil {
				t.Fatalf("StartTemporal: %v", err)
			}
			t.Logf("temporal dev server (%s) started in %s at %s", tt.name, time.Since(start).Round(time.Millisecond), srv.Address())
			defer func() {
				start := time.Now()
				if err := srv.Stop(); err != nil {
					t.Errorf("Stop: %v", err)
				}
				t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
			}()

			if srv.Namespace() != "novaflow-test" {
				t.Errorf("Namespace() = %q", srv.Namespace())
			}
			if _, err := srv.Client().WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "novaflow-test"}); err != nil {
				t.Fatalf("DescribeNamespace: %v", err)
			}
			resp, err := srv.Client().OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "novaflow-test"})
			if err != nil {
				t.Fatalf("ListSearchAttributes: %v", err)
			}
			for key := range workflows.SearchAttributes().GetUntypedValues() {
				if got := resp.GetCustomAttributes()[key.GetName()]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
					t.Errorf("search attribute %s has type %v, want Keyword", key.GetName(), got)
				}
			}
			if tt.dbFile {
				if _, err := os.Stat(opts.DBFilename); err != nil {
					t.Errorf("database file: %v", err)
				}
			}
		})
	}
}

func TestStartTemporalReportsEarlyExit(t *testing.T) {
	t.Parallel()
	falseBin, err := exec.LookPath("false")
	if err != nil {
		t.Fatalf("this test needs the false command: %v", err)
	}
	start := time.Now()
	_, err = StartTemporal(context.Background(), TemporalOptions{CLIPath: falseBin})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("StartTemporal with a CLI that exits: %v, want an error saying it exited", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("StartTemporal took %s to notice the exit", d)
	}
}

func TestTemporalCLIFromEnv(t *testing.T) {
	t.Setenv("NOVAFLOW_TEMPORAL_CLI", filepath.Join(t.TempDir(), "missing"))
	if _, err := TemporalCLI(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "NOVAFLOW_TEMPORAL_CLI") {
		t.Errorf("TemporalCLI with a missing NOVAFLOW_TEMPORAL_CLI: %v, want an error naming it", err)
	}
	path := filepath.Join(t.TempDir(), "temporal")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOVAFLOW_TEMPORAL_CLI", path)
	if got, err := TemporalCLI(context.Background(), nil); err != nil || got != path {
		t.Errorf("TemporalCLI() = %q, %v; want %q", got, err, path)
	}
}

func TestTemporalCLIMissingSaysHowToGetIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no go, no temporal
	_, err := findTemporalCLI(context.Background(), nil)
	if err == nil {
		t.Fatal("findTemporalCLI without go or temporal on PATH succeeded")
	}
	t.Log(err)
	for _, want := range []string{"temporal CLI not found", "no go command", "Go module proxy", "NOVAFLOW_TEMPORAL_CLI", "v1.5.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestFindModuleRoot(t *testing.T) {
	root := findModuleRoot()
	if root == "" {
		t.Fatal("findModuleRoot found nothing from the package directory")
	}
	if _, err := os.Stat(filepath.Join(root, "tools", "temporal", "go.mod")); err != nil {
		t.Errorf("module root %s: %v", root, err)
	}
}

func TestIsModuleRoot(t *testing.T) {
	tests := []struct {
		gomod string
		want  bool
	}{
		{"module github.com/novaflow/novaflow\n\ngo 1.26\n", true},
		{"// c\nmodule \"github.com/novaflow/novaflow\" // c\n", true},
		{"module github.com/novaflow/novaflow/tools/temporal\n", false},
		{"module example.com/other\n", false},
		{"go 1.26\n", false},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(tt.gomod), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := isModuleRoot(dir); got != tt.want {
			t.Errorf("isModuleRoot(%q) = %v, want %v", tt.gomod, got, tt.want)
		}
	}
}

func TestReportProgress(t *testing.T) {
	var quiet bytes.Buffer
	if stop := reportProgress(&quiet, time.Now(), time.Hour, time.Hour); stop() || quiet.Len() != 0 {
		t.Errorf("a fast resolution reported progress: %q", quiet.String())
	}

	var out syncBuffer
	stop := reportProgress(&out, time.Now(), 10*time.Millisecond, 20*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if !stop() {
		t.Fatal("stop() = false after progress was written")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("progress %q, want a first line and elapsed-time lines", lines)
	}
	if !strings.Contains(lines[0], "building the pinned Temporal CLI v1.5.1 once") || !strings.Contains(lines[0], "a few minutes") {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "elapsed") {
		t.Errorf("second line %q, want the elapsed time", lines[1])
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(10)
	b.Write([]byte("line one\nline two\nend"))
	// The kept "ne two\nend" starts inside a line, which is dropped.
	if got := b.String(); got != "end" {
		t.Errorf("tail = %q, want %q", got, "end")
	}
}
