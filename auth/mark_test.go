package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/workflows"
)

// TestScheduledRunMark: a periodic run whose check found it its
// schedule's marks its activities with its run ID (MarkKey), and they run
// without a token; a run the check refused marks none, and its activities
// without a token are refused. A mark in the header of the run's start (any
// client writes it), even one naming the run's own ID, never reaches an
// activity, even with a MAC of the services' key. The child runs of a
// marked run (more hosts than one run takes) are marked by their parent. A
// check's MAC made with a key the hosts do not have marks nothing that
// passes, in the run or its children.
func TestScheduledRunMark(t *testing.T) {
	v := testVerifier(t)
	const topic, task = "t", "tick"
	name := workflows.PeriodicName(topic, task)
	keys, other := testMarkKeys(t), testMarkKeys(t)
	e := NewEnforcer(EnforcerOptions{Verifier: v, Topic: topic, MarkKeys: keys,
		Framework: func(n string) bool { return strings.HasPrefix(n, workflows.PeriodicName(topic, "")) }})
	for _, tc := range []struct {
		name     string
		schedule string    // the check's answer
		keys     *MarkKeys // that make the check's MAC
		forged   bool      // the start's header carries a mark
		hosts    int
		want     bool
	}{
		{"checked", "periodic:t:tick", keys, false, 2, true},
		{"checked, its parts in child runs", "periodic:t:tick", keys, false, workflows.MaxHostsPerRun + 1, true},
		{"checked, a MAC of another key", "periodic:t:tick", other, false, 2, false},
		{"checked, its parts in child runs, a MAC of another key", "periodic:t:tick", other, false, workflows.MaxHostsPerRun + 1, false},
		{"refused by its check", "", nil, false, 2, false},
		{"refused by its check, a mark in its start's header", "", nil, true, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{e}})
			env.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: name})
			env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.CheckRunRequest) (workflows.CheckRunResult, error) {
				res := workflows.CheckRunResult{Schedule: tc.schedule}
				if tc.keys != nil {
					info := activity.GetInfo(ctx)
					res.MAC = tc.keys.RunMAC(info.WorkflowNamespace, info.WorkflowType.Name, info.WorkflowExecution.RunID, tc.schedule)
				}
				return res, nil
			}, activity.RegisterOptions{Name: workflows.CheckRunName})
			// The hosts are given to the check's run by its token-free
			// local activity only when the run is marked; else it is
			// refused, and the run fails before any host's part.
			env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
				hosts := make([]string, tc.hosts)
				for i := range hosts {
					hosts[i] = fmt.Sprintf("h%04d", i)
				}
				return workflows.UpHostsResult{Hosts: hosts}, nil
			}, activity.RegisterOptions{Name: workflows.UpHostsName})
			// A host's part without a token runs only when marked (the
			// Enforcer refuses it otherwise).
			// The test environment runs the parts concurrently.
			var mu sync.Mutex
			var runIDs []string
			env.RegisterActivityWithOptions(func(ctx context.Context, req workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
				info := activity.GetInfo(ctx)
				mu.Lock()
				runIDs = append(runIDs, info.WorkflowExecution.RunID)
				mu.Unlock()
				return workflows.PeriodicResult{}, nil
			}, activity.RegisterOptions{Name: name})
			// The test environment's run ID: a forger who knew it.
			const runID = "default-test-run-id"
			if tc.forged {
				p, err := converter.GetDefaultDataConverter().ToPayload(mark{RunID: runID, Schedule: "periodic:t:tick",
					MAC: keys.RunMAC("default-test-namespace", name, runID, "periodic:t:tick")})
				if err != nil {
					t.Fatal(err)
				}
				env.SetHeader(&commonpb.Header{Fields: map[string]*commonpb.Payload{MarkKey: p}})
			}
			env.ExecuteWorkflow(name, workflows.PeriodicRequest{Topic: topic, Task: task})
			err := env.GetWorkflowError()
			if !tc.want {
				if err == nil || !strings.Contains(err.Error(), policy.UnauthenticatedType) || len(runIDs) != 0 {
					t.Fatalf("an unmarked run: %v, hosts ran %d; want its token-free up_hosts refused (%s), no host run", err, len(runIDs), policy.UnauthenticatedType)
				}
				return
			}
			var res workflows.PeriodicRunResult
			if err != nil || env.GetWorkflowResult(&res) != nil || res.Ran != tc.hosts {
				t.Fatalf("a marked run: %+v, %v; want all %d hosts run", res, err, tc.hosts)
			}
			if tc.hosts > workflows.MaxHostsPerRun {
				// The parts ran in child runs, each marked with its own ID.
				if slices.Contains(runIDs, runID) {
					t.Errorf("a part ran in the parent run %s, want child runs only", runID)
				}
				return
			}
			for _, id := range runIDs {
				if id != runID {
					t.Fatalf("the activities ran in run %s, not %s: the forged case names another run", id, runID)
				}
			}
		})
	}
}

// testVerifier is a Verifier of a key made for the test.
func testVerifier(t *testing.T) *Verifier {
	t.Helper()
	_, jwks, err := GenerateKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), VerifierConfig{JWKS: jwks, Issuer: "iss", Audience: "novaflow"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// testMarkKeys are mark keys made for the test.
func testMarkKeys(t *testing.T) *MarkKeys {
	t.Helper()
	key := make([]byte, MinMarkKeyLen)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	k, err := NewMarkKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMarkKeys: a MAC verifies under the key that made it and under a set
// that holds that key beside a newer one (a rotation), for the same fields
// only; keys too short are refused.
func TestMarkKeys(t *testing.T) {
	old, nu := testMarkKeys(t), testMarkKeys(t)
	both, err := NewMarkKeys(nu.keys[0], old.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	mac := old.RunMAC("ns", "t.report_state", "run", "report:t")
	for _, tc := range []struct {
		name string
		k    *MarkKeys
		f    [4]string
		want bool
	}{
		{"its key", old, [4]string{"ns", "t.report_state", "run", "report:t"}, true},
		{"rotated: old and new", both, [4]string{"ns", "t.report_state", "run", "report:t"}, true},
		{"another key", nu, [4]string{"ns", "t.report_state", "run", "report:t"}, false},
		{"another run", old, [4]string{"ns", "t.report_state", "run2", "report:t"}, false},
		{"another type", old, [4]string{"ns", "t.periodic.x", "run", "report:t"}, false},
		{"another namespace", old, [4]string{"ns2", "t.report_state", "run", "report:t"}, false},
		{"fields shifted", old, [4]string{"ns", "t.report_staterun", "", "report:t"}, false},
		{"no keys", nil, [4]string{"ns", "t.report_state", "run", "report:t"}, false},
	} {
		if got := tc.k.verifyRun(mac, tc.f[0], tc.f[1], tc.f[2], tc.f[3]); got != tc.want {
			t.Errorf("%s: verified %v, want %v", tc.name, got, tc.want)
		}
	}
	if both.verifyChild(mac, "ns", "run", "report:t") {
		t.Error("a run's MAC verified as a child's")
	}
	if both.RunMAC("ns", "t.report_state", "run", "report:t") != nu.RunMAC("ns", "t.report_state", "run", "report:t") {
		t.Error("a rotated set does not sign with its first (newest) key")
	}
	if got := fmt.Sprintf("%v %+v %#v %s", both, both, both, both); got != strings.Repeat("<2 mark keys> ", 3)+"<2 mark keys>" {
		t.Errorf("mark keys formatted as %q, want their count only", got)
	}
	if _, err := NewMarkKeys(make([]byte, MinMarkKeyLen-1)); err == nil {
		t.Error("a key shorter than MinMarkKeyLen taken")
	}
	if _, err := NewMarkKeys(); err == nil {
		t.Error("no key taken")
	}
}
