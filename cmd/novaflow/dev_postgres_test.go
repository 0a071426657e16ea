//go:build temporalsql

// This test runs the whole system production-like: `novaflow dev
// --temporal=postgres`, the pinned Temporal server (not the dev server) on
// PostgreSQL. It builds that server the first time (a few minutes), so it
// has a build tag of its own; .ci/run runs it:
//
//	go test -tags temporalsql -run TestDevOnTemporalPostgres ./cmd/novaflow

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/managers/conductor"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

// devStack is a running `novaflow dev` of the test.
type devStack struct {
	out    *testenv.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startDev runs runDev with o until stop, and waits for its banner.
func startDev(t *testing.T, o devOptions) *devStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devStack{out: &testenv.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	began := time.Now()
	go func() { d.done <- runDev(ctx, o, d.out) }()
	deadline := time.After(20 * time.Minute) // the first run builds the server
	for !strings.Contains(d.out.String(), "novaflow dev is running") {
		select {
		case err := <-d.done:
			t.Fatalf("novaflow dev --temporal=postgres exited: %v\n%s", err, d.out)
		case <-deadline:
			cancel()
			t.Fatalf("novaflow dev --temporal=postgres did not start\n%s", d.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("novaflow dev --temporal=postgres up in %s", time.Since(began).Round(time.Millisecond))
	return d
}

// stop stops the stack as Ctrl-C does and checks that it stopped cleanly.
func (d *devStack) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("novaflow dev exited with %v\n%s", err, d.out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("novaflow dev did not stop\n%s", d.out)
	}
}

// TestDevOnTemporalPostgres runs the reference control plane (compute hosts,
// scheduler, conductor) against the Temporal server on PostgreSQL: a build
// through the conductor's workflow, an RPC call to the compute host that got
// an instance, the status reports' schedules; then it restarts the whole
// stack on the same data and finds the workflows and the instance again.
func TestDevOnTemporalPostgres(t *testing.T) {
	work, err := os.MkdirTemp("", "novaflow-devpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	// As root, PostgreSQL runs as the user postgres, which must enter it.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work) // no other dev stack is found from here
	t.Setenv("NOVAFLOW_HOST", "devpg-host")
	t.Setenv("NOVAFLOW_COMPUTE_DRIVER", "fake") // no real processes
	t.Setenv("NOVAFLOW_REPORT_INTERVAL", "1s")
	t.Setenv("NOVAFLOW_PERIODIC_FUZZY_DELAY", "0s")
	for _, k := range []string{"NOVAFLOW_DATABASE_URL", "DATABASE_URL", "NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE", "NOVAFLOW_HEALTH_ADDRESS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	o := devOptions{
		dir: filepath.Join(work, stackDir), temporal: temporalPostgres, fakeHosts: 2,
		temporalPort: testenv.FreePort(t), uiPort: testenv.FreePort(t), postgresPort: testenv.FreePort(t),
	}
	address := fmt.Sprintf("127.0.0.1:%d", o.temporalPort)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	t.Setenv("NOVAFLOW_BUILD_ID", "devpg-a")
	dev := startDev(t, o)
	checkDevWebUI(t, ctx, dev, o.uiPort)
	tc, err := client.Dial(client.Options{HostPort: address, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	// The conductor's build: scheduler, claims, compute hosts.
	began := time.Now()
	buildID := "devpg-build"
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: buildID, TaskQueue: "conductor"}, conductor.BuildInstancesName,
		json.RawMessage(`{"name":"web","count":2,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var res conductor.BuildResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("build of 2 instances on Temporal+PostgreSQL took %s", time.Since(began).Round(time.Millisecond))
	if len(res.Instances) != 2 {
		t.Fatalf("build result %+v, want 2 instances", res)
	}
	for _, in := range res.Instances {
		if in.VMState != "active" || in.Host == "" {
			t.Fatalf("instance %+v: want active on a host", in)
		}
	}

	// An RPC call to the host of the first instance.
	calls, err := rpc.New(rpc.Options{Temporal: tc})
	if err != nil {
		t.Fatal(err)
	}
	first := res.Instances[0]
	var info map[string]any
	began = time.Now()
	if err := calls.Call(ctx, "compute", "get_instance_info", map[string]any{"instance_uuid": first.UUID}, &info, rpc.ToHost(first.Host)); err != nil {
		t.Fatalf("compute.get_instance_info on %s: %v", first.Host, err)
	}
	t.Logf("RPC call compute.get_instance_info took %s", time.Since(began).Round(time.Millisecond))
	if info["uuid"] != first.UUID || info["host"] != first.Host || info["vm_state"] != "active" {
		t.Errorf("get_instance_info = %v, want %s active on %s", info, first.UUID, first.Host)
	}

	// The status reports of the topic run from its schedule, one run for
	// all the topic's hosts.
	id := worker.ReportScheduleID("compute")
	waitUntil(t, 30*time.Second, "a run of schedule "+id, func() bool {
		desc, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		return err == nil && (len(desc.Info.RecentActions) > 0 || len(desc.Info.RunningWorkflows) > 0)
	})
	dev.stop(t)

	// The same data, a new stack: Temporal's state is in PostgreSQL. (runDev
	// points the settings at its stack, for its services: unset them.)
	for _, k := range []string{"NOVAFLOW_DATABASE_URL", "NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE"} {
		os.Unsetenv(k)
	}
	t.Setenv("NOVAFLOW_BUILD_ID", "devpg-b") // an upgrade
	dev = startDev(t, o)
	defer dev.stop(t)
	tc2, err := client.Dial(client.Options{HostPort: address, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc2.Close()
	var again conductor.BuildResult
	if err := tc2.GetWorkflow(ctx, buildID, "").Get(ctx, &again); err != nil || len(again.Instances) != 2 || again.Instances[0].UUID != first.UUID {
		t.Fatalf("the build after a restart: %+v, %v; want the same result", again, err)
	}
	calls2, err := rpc.New(rpc.Options{Temporal: tc2})
	if err != nil {
		t.Fatal(err)
	}
	if err := calls2.Call(ctx, "compute", "get_instance_info", map[string]any{"instance_uuid": first.UUID}, &info, rpc.ToHost(first.Host)); err != nil {
		t.Fatalf("compute.get_instance_info after a restart: %v", err)
	}
	if info["uuid"] != first.UUID {
		t.Errorf("get_instance_info after a restart = %v", info)
	}

	// The upgrade moved each topic's worker deployment to build b.
	for _, deployment := range []string{"novaflow-compute", "novaflow-scheduler", "novaflow-conductor"} {
		desc, err := tc2.WorkerDeploymentClient().GetHandle(deployment).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		if err != nil {
			t.Fatalf("describe worker deployment %s: %v", deployment, err)
		}
		if cur := desc.Info.RoutingConfig.CurrentVersion; cur == nil || cur.BuildID != "devpg-b" {
			t.Errorf("worker deployment %s: current version %+v, want build devpg-b", deployment, cur)
		}
	}
}

// checkDevWebUI: the stack's banner names the Web UI, which serves the UI's
// page, and whose API lists the namespace of the stack's Temporal server.
func checkDevWebUI(t *testing.T, ctx context.Context, dev *devStack, port int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if !strings.Contains(dev.out.String(), "Web UI        "+url+"\n") {
		t.Errorf("the banner does not name the Web UI %s:\n%s", url, dev.out)
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatalf("the Web UI: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "/_app/immutable/") {
		t.Errorf("GET %s/: %s, %d bytes, want the UI's page", url, resp.Status, len(page))
	}
	if ok, err := devstack.UIServesNamespace(ctx, url, "default"); !ok {
		t.Errorf("the Web UI's API does not list namespace default: %v", err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
