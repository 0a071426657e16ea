//go:build faults && linux

package faults

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/managers/compute/store"
	"github.com/novaflow/novaflow/managers/conductor"
)

// TestLoadBuilds builds NOVAFLOW_FAULTS_LOAD_BUILDS instances (default
// 1000), one request each, 64 requests in flight at a time, on four
// simulated compute hosts (the fake driver, each a process of its own),
// with one scheduler and one conductor. Every build must succeed, and every
// instance be accounted for: active on a host whose usage adds up. The
// figures go to docs/reliability.md.
func TestLoadBuilds(t *testing.T) {
	n := 1000
	if v := os.Getenv("NOVAFLOW_FAULTS_LOAD_BUILDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("NOVAFLOW_FAULTS_LOAD_BUILDS=%q: want a positive number", v)
		}
	}
	const inFlight = 64
	s := newStack(t, stackOptions{})
	hosts := []string{"sim-1", "sim-2", "sim-3", "sim-4"}
	for _, h := range hosts {
		s.start("compute", h, map[string]string{
			"NOVAFLOW_COMPUTE_DRIVER":         "fake",
			"NOVAFLOW_COMPUTE_DRIVER_OPTIONS": "vcpus:100000,memory_mb:100000000,disk_gb:1000000",
			"NOVAFLOW_LOG_LEVEL":              "warn",
		})
	}
	s.start("scheduler", "sched-1", map[string]string{"NOVAFLOW_LOG_LEVEL": "warn"})
	s.start("conductor", "cond-1", map[string]string{"NOVAFLOW_LOG_LEVEL": "warn"})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		uuids     []string
		failures  []string
		slowest   []timed
	)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			req, u := buildRequest(fmt.Sprintf("load-%d", i), "/bin/true")
			t0 := time.Now()
			run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: "load-" + u, TaskQueue: conductor.Topic, WorkflowExecutionTimeout: 10 * time.Minute,
			}, conductor.BuildInstancesName, req)
			var res conductor.BuildResult
			if err == nil {
				res, err = buildOutcome(ctx, run)
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			uuids = append(uuids, u)
			slowest = append(slowest, timed{"load-" + u, d})
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("build %d: %v", i, err))
			case res.Instances[0].VMState != "active":
				failures = append(failures, fmt.Sprintf("build %d: %s: %s", i, res.Instances[0].VMState, res.Instances[0].Fault))
			default:
				latencies = append(latencies, d)
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	for _, f := range failures[:min(len(failures), 20)] {
		t.Error(f)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d builds failed", len(failures), n)
	}
	s.checkRunning()
	active, failed := s.checkAccounting(uuids)
	if active != n || failed != 0 {
		t.Errorf("%d active, %d in error, want %d active", active, failed, n)
	}
	per := map[string]int{}
	for _, h := range hosts {
		insts, err := s.store.List(ctx, store.Filter{Host: h})
		if err != nil {
			t.Fatal(err)
		}
		per[h] = len(insts)
	}
	slices.Sort(latencies)
	q := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Round(time.Millisecond)
	}
	slices.SortFunc(slowest, func(a, b timed) int { return int(b.d - a.d) })
	for _, w := range slowest[:min(3, len(slowest))] {
		t.Logf("slow build %s (%s): %s", w.id, w.d.Round(time.Millisecond), s.historySummary(w.id))
	}
	t.Logf("%d builds, %d in flight, 4 hosts: %s in all, %.1f builds/s; build latency p50 %s, p95 %s, p99 %s, max %s; instances per host %v; %d errors",
		n, inFlight, total.Round(time.Millisecond), float64(n)/total.Seconds(), q(0.5), q(0.95), q(0.99), q(1), per, len(failures))
}

type timed struct {
	id string
	d  time.Duration
}
