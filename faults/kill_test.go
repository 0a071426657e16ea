//go:build faults && linux

package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/managers/compute/store"
)

// TestKillComputeMidBuild SIGKILLs a compute service (process driver)
// while it builds instances: some are about to start their process, some
// have started it and are not yet active in the database. After a restart
// of the service every build finishes: each instance is active with exactly
// one process, or in error with none; no process runs twice; claims add up.
func TestKillComputeMidBuild(t *testing.T) {
	s := newStack(t, stackOptions{})
	hosts := []string{"node-a", "node-b"}
	for _, h := range hosts {
		s.start("compute", h, map[string]string{
			"NOVAFLOW_COMPUTE_DRIVER":         HoldProcessDriver,
			"NOVAFLOW_COMPUTE_STATE_DIR":      filepath.Join(s.dir, "compute-"+h),
			"NOVAFLOW_COMPUTE_DRIVER_OPTIONS": "hold_before_spawn:1500ms,hold_after_spawn:1500ms,vcpus:64,memory_mb:65536,disk_gb:1000",
		})
	}
	s.start("scheduler", "sched-1", nil)
	s.start("conductor", "cond-1", nil)
	sleep := absolute(t, "sleep")

	// Builds arrive every 300 ms, so that at any moment some wait before
	// their spawn and some after it.
	const builds = 12
	var runs []client.WorkflowRun
	var uuids []string
	for i := range builds {
		req, u := buildRequest(fmt.Sprintf("vm-%d", i), sleep, "3600")
		runs = append(runs, s.startBuild("build-"+u, req))
		uuids = append(uuids, u)
		time.Sleep(300 * time.Millisecond)
	}
	// Kill node-a once it has instances both spawning in the database and
	// running as processes.
	victim := "node-a"
	s.eventually(time.Minute, "node-a spawning instances with and without their process", func() bool {
		insts, err := s.store.List(context.Background(), store.Filter{Host: victim})
		if err != nil {
			return false
		}
		procs := instanceProcesses(s.stateDirs[victim])
		with, without := 0, 0
		for _, i := range insts {
			if i.TaskState != store.Spawning {
				continue
			}
			if len(procs[i.UUID]) > 0 {
				with++
			} else {
				without++
			}
		}
		return with > 0 && without > 0
	})
	insts, _ := s.store.List(context.Background(), store.Filter{Host: victim})
	t.Logf("SIGKILL compute on %s: %d instances there, %d processes", victim, len(insts), len(instanceProcesses(s.stateDirs[victim])))
	s.procs[victim+"/compute"].kill(t)
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	s.restart("compute", victim)
	t.Logf("compute on %s restarted", victim)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, run := range runs {
		res, err := buildOutcome(ctx, run)
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if b := res.Instances[0]; b.VMState != "active" {
			t.Logf("build %d: %s (%v)", i, b.VMState, b.Fault)
		}
	}
	t.Logf("every build finished %s after the restart", time.Since(killedAt).Round(time.Millisecond))
	s.checkRunning()
	active, failed := s.checkAccounting(uuids)
	t.Logf("%d active, %d in error", active, failed)

	// One process per active instance, on its host; none for the others.
	all, err := s.store.List(context.Background(), store.Filter{UUIDs: uuids})
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string][]int{}
	for _, h := range hosts {
		for u, pids := range instanceProcesses(s.stateDirs[h]) {
			procs[u] = append(procs[u], pids...)
			if inst := find(all, u); inst == nil || inst.Host != h || inst.VMState != store.Active {
				t.Errorf("host %s runs processes %v of instance %s, which is not active there (%+v)", h, pids, u, inst)
			}
		}
	}
	for _, i := range all {
		switch n := len(procs[i.UUID]); {
		case i.VMState == store.Active && n != 1:
			t.Errorf("active instance %s on %s has %d processes %v, want 1", i.UUID, i.Host, n, procs[i.UUID])
		case i.VMState != store.Active && n != 0:
			t.Errorf("instance %s in %s has processes %v", i.UUID, i.VMState, procs[i.UUID])
		}
	}
	if active != builds {
		t.Errorf("%d of %d instances active: a killed compute service must not fail builds that can be retried", active, builds)
	}
}

// TestKillSchedulerAndConductorMidBuild SIGKILLs the scheduler in the
// middle of select_destinations, then the conductor in the middle of
// builds; after each restarts, every build finishes with its instance
// active and the claims adding up.
func TestKillSchedulerAndConductorMidBuild(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, h := range []string{"node-a", "node-b", "node-c"} {
		s.start("compute", h, map[string]string{
			"NOVAFLOW_COMPUTE_DRIVER":         HoldFakeDriver,
			"NOVAFLOW_COMPUTE_DRIVER_OPTIONS": "hold_after_spawn:3s,vcpus:64,memory_mb:65536,disk_gb:1000",
		})
	}
	s.start("scheduler", "sched-1", map[string]string{
		"NOVAFLOW_SCHEDULER_STRATEGY": SlowStrategy, weighDelayEnv: "300ms",
	})
	s.start("conductor", "cond-1", nil)

	var all []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	phase := func(name, victim, topic string, ready func(pending map[string]int) bool) {
		var runs []client.WorkflowRun
		for i := range 4 {
			req, u := buildRequest(fmt.Sprintf("%s-%d", name, i), "/bin/true")
			runs = append(runs, s.startBuild(name+"-"+u, req))
			all = append(all, u)
		}
		s.eventually(time.Minute, name+": work in flight", func() bool { return ready(s.pending(runs)) })
		t.Logf("%s: SIGKILL %s with %v in flight", name, topic, s.pending(runs))
		s.procs[victim+"/"+topic].kill(t)
		time.Sleep(2 * time.Second)
		killed := time.Now()
		s.restart(topic, victim)
		for i, run := range runs {
			res, err := buildOutcome(ctx, run)
			if err != nil {
				t.Fatalf("%s: build %d: %v", name, i, err)
			}
			if b := res.Instances[0]; b.VMState != "active" {
				t.Errorf("%s: build %d: %s: %s", name, i, b.VMState, b.Fault)
			}
		}
		t.Logf("%s: every build finished %s after the restart", name, time.Since(killed).Round(time.Millisecond))
	}
	phase("scheduler", "sched-1", "scheduler", func(p map[string]int) bool { return p["scheduler.select_destinations"] > 0 })
	phase("conductor", "cond-1", "conductor", func(p map[string]int) bool { return p["compute.build_and_run_instance"] >= 2 })
	s.checkRunning()
	if active, failed := s.checkAccounting(all); failed != 0 {
		t.Errorf("%d active, %d in error; want all active", active, failed)
	}
}

// pending counts the activities started and not finished in the builds of
// runs and their children, by activity type.
func (s *stack) pending(runs []client.WorkflowRun) map[string]int {
	out := map[string]int{}
	ctx := context.Background()
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.GetID())
	}
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		desc, err := s.tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			continue
		}
		for _, a := range desc.GetPendingActivities() {
			if a.GetLastStartedTime() != nil {
				out[a.GetActivityType().GetName()]++
			}
		}
		for _, c := range desc.GetPendingChildren() {
			ids = append(ids, c.GetWorkflowId())
		}
	}
	return out
}

func find(insts []store.Instance, u string) *store.Instance {
	for i := range insts {
		if insts[i].UUID == u {
			return &insts[i]
		}
	}
	return nil
}
