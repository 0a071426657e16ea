package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
)

// setupResult is the JSON `novaflow temporal setup -o json` prints.
type setupResult struct {
	Address   string              `json:"address"`
	Namespace string              `json:"namespace"`
	OK        bool                `json:"ok"`
	Checks    []worker.SetupCheck `json:"checks"`
}

func (r setupResult) result(name string) string {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Result
		}
	}
	return ""
}

// setupJSON runs `novaflow temporal setup -o json` with args and decodes its output.
func setupJSON(t *testing.T, wantCode int, args ...string) setupResult {
	t.Helper()
	code, out, errOut := run(t, append([]string{"temporal", "setup", "-o", "json"}, args...)...)
	if code != wantCode {
		t.Fatalf("temporal setup %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
	}
	var r setupResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("temporal setup -o json: %v\n%s", err, out)
	}
	return r
}

// checkTemporalSetup runs `novaflow temporal setup` against a fresh
// namespace of the server at address: a check finds it missing, the setup
// creates the namespace and every search attribute with its type, a second
// run finds all present and changes nothing, and a service's start check
// then passes where it refused before.
func checkTemporalSetup(t *testing.T, address, namespace string) {
	t.Chdir(t.TempDir()) // no dev stack is found from here
	t.Setenv("NOVAFLOW_TEMPORAL_ADDRESS", address)
	t.Setenv("NOVAFLOW_TEMPORAL_NAMESPACE", namespace)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Before: the namespace does not exist; --check says so and changes nothing.
	before := setupJSON(t, 1, "--check")
	if before.OK || before.result("namespace") != worker.SetupMissing {
		t.Fatalf("--check on a missing namespace: %+v", before)
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: sdklog.NewStructuredLogger(discardLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace}); err == nil {
		t.Fatal("--check created the namespace")
	}
	cfg := worker.DefaultConfig()
	cfg.TemporalAddress, cfg.TemporalNamespace = address, namespace
	if err := worker.CheckNamespace(ctx, c, cfg); err == nil || !strings.Contains(err.Error(), worker.SetupCommand) {
		t.Errorf("a service's check of a missing namespace: %v, want it to name %q", err, worker.SetupCommand)
	}

	began := time.Now()
	first := setupJSON(t, 0, "--retention", "3d")
	t.Logf("temporal setup of a new namespace took %s", time.Since(began).Round(time.Millisecond))
	if !first.OK || first.Namespace != namespace || first.Address != address {
		t.Fatalf("first setup: %+v", first)
	}
	if got := first.result("namespace"); got != worker.SetupCreated {
		t.Errorf("namespace: %s, want created", got)
	}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		if got := first.result("search attribute " + key.GetName()); got != worker.SetupCreated {
			t.Errorf("search attribute %s: %q, want created", key.GetName(), got)
		}
	}
	for _, name := range []string{"frontend.WorkerHeartbeatsEnabled", "frontend.ListWorkersEnabled", "frontend.enableSchedules", "retention"} {
		if got := first.result(name); got != worker.SetupOK {
			t.Errorf("%s: %q, want ok (%+v)", name, got, first.Checks)
		}
	}

	// What the server has now.
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 72*time.Hour {
		t.Errorf("retention %s, want 72h", got)
	}
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		if got, ok := list.GetCustomAttributes()[key.GetName()]; !ok || got != key.GetValueType() {
			t.Errorf("search attribute %s: %v (registered %v), want %v", key.GetName(), got, ok, key.GetValueType())
		}
	}
	if err := worker.CheckSearchAttributes(ctx, c, namespace); err != nil {
		t.Errorf("a service's start check after the setup: %v", err)
	}

	// Again: everything present, nothing changed, exit 0; the text output
	// says so line by line.
	second := setupJSON(t, 0)
	for _, check := range second.Checks {
		if check.Result != worker.SetupOK {
			t.Errorf("second setup: %s is %s (%s), want ok", check.Name, check.Result, check.Detail)
		}
	}
	code, out, errOut := run(t, "temporal", "setup")
	if code != 0 || !strings.Contains(out, "ok       search attribute NovaflowTopic: Keyword") || !strings.HasSuffix(out, "ready for novaflow\n") {
		t.Errorf("temporal setup (text): exit %d\n%s%s", code, out, errOut)
	}
}

// TestTemporalSetupOnDevServer runs the setup against the dev server of the
// tests, in a namespace of its own.
func TestTemporalSetupOnDevServer(t *testing.T) {
	srv := testenv.Temporal(t)
	checkTemporalSetup(t, srv.Address(), testenv.UniqueName(t, "setup"))
}

// TestServiceRefusesNamespaceWithoutSearchAttributes checks the one line a
// service's start check gives on a namespace that exists without novaflow's
// search attributes.
func TestServiceRefusesNamespaceWithoutSearchAttributes(t *testing.T) {
	srv := testenv.Temporal(t)
	namespace := testenv.UniqueName(t, "bare")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: namespace, Logger: sdklog.NewStructuredLogger(discardLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		last = worker.CheckSearchAttributes(ctx, c, namespace)
		if last != nil && strings.Contains(last.Error(), "lacks the search attributes") {
			break
		}
	}
	want := "NOVAFLOW_TEMPORAL_NAMESPACE: namespace \"" + namespace + "\" lacks the search attributes NovaflowHost, NovaflowInstance, NovaflowMethod, NovaflowTopic: run `novaflow temporal setup` first"
	if last == nil || last.Error() != want {
		t.Errorf("start check: %v\nwant %s", last, want)
	}
}
