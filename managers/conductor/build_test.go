package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/activities"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/scheduler"
	"github.com/novaflow/novaflow/rpc"
)

// buildFake plays the conductor, scheduler and compute services of a build.
type buildFake struct {
	mu sync.Mutex
	// selectErr, when set, is the scheduler's answer.
	selectErr error
	// hosts are the destinations per instance: selected host, alternates.
	hosts []string
	// buildErr says how a build on a host fails; nil: it succeeds.
	buildErr map[string]error
	// claimErr says how claiming an alternate fails.
	claimErr map[string]error
	// releaseErr, when set, is how every release_claim fails.
	releaseErr error
	// deleting: finish_build answers that the instance is being deleted
	// (it left it as it was).
	deleting bool
	calls    []string // "<activity> <queue> <instance/host>"
	// levels are the upgrade levels of the calling service, by topic.
	levels map[string]string
	// versions are the versions each activity was called at.
	versions map[string][]string
	finished map[string]string
}

func (f *buildFake) record(ctx context.Context, name string, req json.RawMessage) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(req, &m)
	f.mu.Lock()
	defer f.mu.Unlock()
	what := fmt.Sprint(m["instance_uuid"])
	if h, ok := m["dest_host"]; ok {
		what += "@" + fmt.Sprint(h)
	}
	f.calls = append(f.calls, name+" "+activity.GetInfo(ctx).TaskQueue+" "+what)
	return m
}

func (f *buildFake) register(env *testsuite.TestWorkflowEnvironment) {
	reg := func(name string, fn func(ctx context.Context, m map[string]any) (any, error)) {
		env.RegisterActivityWithOptions(func(ctx context.Context, req json.RawMessage, ci activities.CallInfo) (json.RawMessage, error) {
			m := f.record(ctx, name, req)
			f.mu.Lock()
			f.versions[name] = append(f.versions[name], ci.Version)
			f.mu.Unlock()
			out, err := fn(ctx, m)
			if err != nil {
				return nil, activities.ToApplicationError(err)
			}
			return json.Marshal(out)
		}, activity.RegisterOptions{Name: name})
	}
	// What a conductor service answers workflow code about a call: the
	// version of the method in the binary's definitions, and its levels.
	env.RegisterActivityWithOptions(func(_ context.Context, req rpc.CallVersionRequest) (rpc.CallVersionResult, error) {
		res := rpc.CallVersionResult{Level: f.levels[req.Topic], Why: "the test's level", Speaks: req.Version}
		def, err := managers.ForTopic(req.Topic, "")
		if err != nil {
			return res, err
		}
		if m, ok := def.Method(req.Method); ok && res.Speaks == "" {
			res.Speaks, res.Known, res.Since = m.Version, true, m.Since
		}
		return res, nil
	}, activity.RegisterOptions{Name: rpc.CallVersionName})
	reg("conductor.create_instances", func(_ context.Context, m map[string]any) (any, error) {
		return map[string]any{"instances": m["instances"]}, nil
	})
	reg("scheduler.select_destinations", func(_ context.Context, m map[string]any) (any, error) {
		if f.selectErr != nil {
			return nil, f.selectErr
		}
		var dests []map[string]any
		for _, u := range m["instance_uuids"].([]any) {
			dests = append(dests, map[string]any{"instance_uuid": u, "host": f.hosts[0], "alternates": f.hosts[1:]})
		}
		return map[string]any{"destinations": dests}, nil
	})
	reg("conductor.claim_instance", func(_ context.Context, m map[string]any) (any, error) {
		if err := f.claimErr[m["dest_host"].(string)]; err != nil {
			return nil, err
		}
		return map[string]any{}, nil
	})
	reg("conductor.release_claim", func(context.Context, map[string]any) (any, error) { return map[string]any{}, f.releaseErr })
	reg("conductor.finish_build", func(_ context.Context, m map[string]any) (any, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		fault, _ := m["fault"].(string)
		f.finished[m["instance_uuid"].(string)] = fault
		if f.deleting {
			return map[string]any{"uuid": m["instance_uuid"], "vm_state": "building", "task_state": "deleting"}, nil
		}
		return map[string]any{}, nil
	})
	reg("compute.build_and_run_instance", func(ctx context.Context, m map[string]any) (any, error) {
		host := strings.TrimPrefix(activity.GetInfo(ctx).TaskQueue, "compute.")
		if err := f.buildErr[host]; err != nil {
			return nil, err
		}
		return map[string]any{"uuid": m["instance_uuid"], "host": host, "vm_state": "active"}, nil
	})
}

const (
	uuid1 = "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11"
	uuid2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
)

func runBuild(t *testing.T, f *buildFake, input string) (BuildResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	for _, w := range buildWorkflows() {
		env.RegisterWorkflowWithOptions(w.Func, workflow.RegisterOptions{Name: w.Name})
	}
	if f.finished == nil {
		f.finished = map[string]string{}
	}
	if f.versions == nil {
		f.versions = map[string][]string{}
	}
	f.register(env)
	p, err := converter.GetDefaultDataConverter().ToPayload(json.RawMessage(input))
	if err != nil {
		t.Fatal(err)
	}
	env.ExecuteWorkflow(BuildInstancesName, converter.NewRawValue(p))
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res BuildResult
	err = env.GetWorkflowResult(&res)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == BuildFailedType {
		if derr := appErr.Details(&res); derr != nil {
			t.Fatalf("BuildFailed details: %v", derr)
		}
	}
	return res, err
}

func TestBuildInstancesWorkflow(t *testing.T) {
	rescheduled := &managers.Error{Type: "Rescheduled", Message: "spawn failed"}
	deletingConflict := &managers.Error{Type: managers.ConflictType, Field: store.DeletingField,
		Message: "instance " + uuid1 + " is in vm_state building, task_state deleting"}
	tests := []struct {
		name        string
		fake        *buildFake
		input       string
		wantErrType string
		wantStates  []string // vm_state@host per instance
		wantFault   string   // in every failed instance's fault
		wantCalls   []string // in order, for instance uuid1 (or all when one instance)
	}{
		{
			name:       "two instances",
			fake:       &buildFake{hosts: []string{"h1", "h2", "h3"}},
			input:      `{"name":"web","count":2,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `","` + uuid2 + `"]}`,
			wantStates: []string{"active@h1", "active@h1"},
		},
		{
			name:       "reschedule to an alternate",
			fake:       &buildFake{hosts: []string{"h1", "h2", "h3"}, buildErr: map[string]error{"h1": rescheduled}},
			input:      `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantStates: []string{"active@h2"},
			wantCalls: []string{
				"conductor.create_instances conductor <nil>",
				"scheduler.select_destinations scheduler <nil>",
				"compute.build_and_run_instance compute.h1 " + uuid1,
				"conductor.release_claim conductor " + uuid1 + "@h1",
				"conductor.claim_instance conductor " + uuid1 + "@h2",
				"compute.build_and_run_instance compute.h2 " + uuid1,
				"conductor.finish_build conductor " + uuid1,
			},
		},
		{
			name: "exhausted after three attempts",
			fake: &buildFake{hosts: []string{"h1", "h2", "h3"}, buildErr: map[string]error{
				"h1": rescheduled, "h2": errors.New("lost the host"), "h3": rescheduled}},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"error@"},
			wantFault:   "Exceeded maximum number of retries",
		},
		{
			name: "an alternate without room is skipped",
			fake: &buildFake{hosts: []string{"h1", "h2", "h3"}, buildErr: map[string]error{"h1": rescheduled},
				claimErr: map[string]error{"h2": managers.Conflict("host h2 has 0 vcpus free")}},
			input:      `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantStates: []string{"active@h3"},
		},
		{
			name: "a claim refused because the instance is being deleted ends the build",
			fake: &buildFake{hosts: []string{"h1", "h2", "h3"}, buildErr: map[string]error{"h1": rescheduled},
				claimErr: map[string]error{"h2": deletingConflict}, deleting: true},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"deleted@"},
			wantFault:   "aborted: Conflict: field task_state: ",
			wantCalls: []string{
				"conductor.create_instances conductor <nil>",
				"scheduler.select_destinations scheduler <nil>",
				"compute.build_and_run_instance compute.h1 " + uuid1,
				"conductor.release_claim conductor " + uuid1 + "@h1",
				"conductor.claim_instance conductor " + uuid1 + "@h2",
				"conductor.finish_build conductor " + uuid1,
			},
		},
		{
			name:        "a build refused because the instance is being deleted ends the build",
			fake:        &buildFake{hosts: []string{"h1", "h2"}, buildErr: map[string]error{"h1": deletingConflict}, deleting: true},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"deleted@"},
			wantFault:   "aborted: Conflict: field task_state: ",
			wantCalls: []string{
				"conductor.create_instances conductor <nil>",
				"scheduler.select_destinations scheduler <nil>",
				"compute.build_and_run_instance compute.h1 " + uuid1,
				"conductor.release_claim conductor " + uuid1 + "@h1",
				"conductor.finish_build conductor " + uuid1,
			},
		},
		{
			name: "hosts exhausted while the instance is being deleted",
			fake: &buildFake{hosts: []string{"h1", "h2"}, buildErr: map[string]error{"h1": rescheduled, "h2": rescheduled},
				deleting: true},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"deleted@"},
			wantFault:   "Exceeded maximum number of retries",
		},
		{
			name:        "no valid host",
			fake:        &buildFake{selectErr: &managers.Error{Type: "NoValidHost", Message: "No valid host was found"}},
			input:       `{"name":"web","count":2,"flavor":{"vcpus":64,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]},"instance_uuids":["` + uuid1 + `","` + uuid2 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"error@", "error@"},
			wantFault:   "NoValidHost: No valid host was found",
		},
		{
			name: "an image no host can run is not rescheduled",
			fake: &buildFake{hosts: []string{"h1", "h2"}, buildErr: map[string]error{
				"h1": managers.InvalidArgument("image.command[0]", "is empty")}},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"error@"},
			wantFault:   "aborted: InvalidArgument: field image.command[0]: is empty",
		},
		{
			name: "a step of the instance's build cannot be done",
			fake: &buildFake{hosts: []string{"h1", "h2"}, buildErr: map[string]error{"h1": rescheduled},
				releaseErr: managers.InvalidArgument("dest_host", "bad")},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep"]},"instance_uuids":["` + uuid1 + `"]}`,
			wantErrType: BuildFailedType,
			wantStates:  []string{"error@"},
			wantFault:   "build failed: ",
		},
		{
			name:        "unknown field",
			fake:        &buildFake{},
			input:       `{"name":"web","flavour":{},"image":{"command":["x"]}}`,
			wantErrType: managers.InvalidArgumentType,
		},
		{
			name:        "no command",
			fake:        &buildFake{},
			input:       `{"name":"web","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{}}`,
			wantErrType: managers.InvalidArgumentType,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := runBuild(t, tt.fake, tt.input)
			if tt.wantErrType == "" && err != nil {
				t.Fatalf("workflow error: %v", err)
			}
			if tt.wantErrType != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != tt.wantErrType {
					t.Fatalf("workflow error = %v, want type %s", err, tt.wantErrType)
				}
			}
			var states []string
			for _, b := range res.Instances {
				states = append(states, b.VMState+"@"+b.Host)
				if b.VMState == "error" {
					if !strings.Contains(b.Fault, tt.wantFault) {
						t.Errorf("fault = %q, want it to contain %q", b.Fault, tt.wantFault)
					}
					if got := tt.fake.finished[b.UUID]; got != b.Fault {
						t.Errorf("finish_build fault = %q, want %q", got, b.Fault)
					}
				} else if b.VMState == "deleted" {
					// The create action ends with why; the result has no
					// fault: the delete won.
					if got := tt.fake.finished[b.UUID]; b.Fault != "" || !strings.Contains(got, tt.wantFault) {
						t.Errorf("fault %q, finish_build fault %q; want none and one that contains %q", b.Fault, got, tt.wantFault)
					}
				} else if got, ok := tt.fake.finished[b.UUID]; !ok || got != "" {
					t.Errorf("finish_build of an active instance: called %v, fault %q", ok, got)
				}
			}
			if !slices.Equal(states, tt.wantStates) {
				t.Errorf("instances = %v, want %v", states, tt.wantStates)
			}
			if tt.wantCalls != nil && !slices.Equal(tt.fake.calls, tt.wantCalls) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(tt.fake.calls, "\n"), strings.Join(tt.wantCalls, "\n"))
			}
			if tt.wantErrType == managers.InvalidArgumentType && len(tt.fake.calls) != 0 {
				t.Errorf("a malformed request made calls: %v", tt.fake.calls)
			}
		})
	}
}

// TestBuildCallsAreVersioned: the build's calls carry the version of each
// method in the binary's manager definitions (compute's for
// build_and_run_instance), and a caller whose upgrade level for compute
// cannot carry compute's version refuses the call itself: no compute host
// is called.
func TestBuildCallsAreVersioned(t *testing.T) {
	f := &buildFake{hosts: []string{"h1"}}
	if _, err := runBuild(t, f, `{"name":"web","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["true"]}}`); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, topic := range []string{Topic, computemgr.Topic, scheduler.Topic} {
		def, err := managers.ForTopic(topic, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range def.Methods() {
			want[topic+"."+m.Name] = m.Version
		}
	}
	for name, versions := range f.versions {
		for _, v := range versions {
			if v == "" || v != want[name] {
				t.Errorf("%s was called at version %q, want %q (its method's version)", name, v, want[name])
			}
		}
	}
	if len(f.versions["compute.build_and_run_instance"]) != 1 {
		t.Errorf("compute.build_and_run_instance calls: %v", f.versions["compute.build_and_run_instance"])
	}

	// Capped at a major compute does not speak: refused at the caller.
	f = &buildFake{hosts: []string{"h1", "h2"}, levels: map[string]string{computemgr.Topic: "0.9"}}
	res, err := runBuild(t, f, `{"name":"web","flavor":{"vcpus":1,"memory_mb":64},"image":{"command":["true"]}}`)
	if err == nil {
		t.Fatal("a build whose compute calls cannot be sent succeeded")
	}
	if n := len(f.versions["compute.build_and_run_instance"]); n != 0 {
		t.Errorf("compute was called %d times above the caller's level", n)
	}
	if len(res.Instances) != 1 || !strings.Contains(res.Instances[0].Fault, managers.UnsupportedVersionType) ||
		!strings.Contains(res.Instances[0].Fault, "upgrade level 0.9") {
		t.Errorf("build result %+v, want a fault naming UnsupportedVersion and the level", res)
	}
}

// TestBuildReplay replays recorded histories of a build with a reschedule
// (go test ./managers/conductor -run TestBuildReschedules -record records
// them again): a change to the build workflows that would break running
// builds fails here.
func TestBuildReplay(t *testing.T) {
	for _, file := range []string{
		// Recorded before calls from workflows were versioned (no
		// novaflow.rpc.versioned-calls marker): kept while a build started
		// on that code may still run.
		"build_instances.json", "build_instance_rescheduled.json",
		// Recorded with versioned calls (go test -run TestBuildReschedules -args -record).
		"build_instances_versioned.json", "build_instance_rescheduled_versioned.json",
		// Recorded by the next release (the same with -tags novaflow_next),
		// whose build sends compute 1.1: this release replays them after a
		// rollback, and the next release replays this one's.
		"build_instances_versioned_next.json", "build_instance_rescheduled_versioned_next.json",
		// Recorded before a claim refused because the instance is being
		// deleted ended the build (conductor.build.deleting-ends-build), by
		// TestDeleteDuringBuildEndsIt on that code: the build claimed the
		// two other hosts and set the instance to ERROR; it replays so. The
		// same with the claims' refusals as a conductor of this code
		// answers them (Field task_state), as when the workflow tasks ran
		// on an older conductor and the claims on a newer one during a
		// roll: without the change's marker, it still goes on (made from
		// the first by adding the field to the two refusals).
		"build_instance_deleting_unversioned.json", "build_instance_deleting_mixed.json",
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
			// The build names its children after its own workflow ID: replay
			// with the recorded one.
			var exec workflow.Execution
			for _, e := range h.GetEvents() {
				if a := e.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
					exec.ID, _, _ = strings.Cut(a.GetWorkflowId(), "/")
					break
				}
			}
			r := worker.NewWorkflowReplayer()
			for _, w := range buildWorkflows() {
				r.RegisterWorkflowWithOptions(w.Func, workflow.RegisterOptions{Name: w.Name})
			}
			logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
			if err := r.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: exec}); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}
