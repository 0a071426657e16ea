//go:build faults && linux

package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/servicegroup"
)

// op is one operation a stream asked for.
type op struct {
	instance, action, method, requestID string
	err                                 error
}

// opStream calls stop_instance and start_instance, one after the other, on
// each of instances until stop is closed: on half of them with a request id,
// on the other half without (the compute service then makes one). It
// returns every operation it asked for, once stop is closed and the calls
// in flight have returned.
func opStream(t *testing.T, c *rpc.Client, instances []string, stop <-chan struct{}) func() []op {
	var mu sync.Mutex
	var ops []op
	var wg sync.WaitGroup
	for n, u := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := op{instance: u, action: "stop", method: "stop_instance"}
				if i%2 == 1 {
					o.action, o.method = "start", "start_instance"
				}
				req := map[string]any{"instance_uuid": u}
				var opts []rpc.CallOption
				if n%2 == 0 {
					o.requestID = fmt.Sprintf("op-%d-%s", i, u[:8])
					req["request_id"] = o.requestID
					opts = append(opts, rpc.RequestID(o.requestID))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				o.err = c.Call(ctx, "compute", o.method, req, nil, opts...)
				cancel()
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
				if o.err != nil {
					return // the instance's state is unknown: stop there
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	return func() []op {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return ops
	}
}

// buildStream starts a build every interval until stop is closed and
// returns the runs and their instances.
func buildStream(s *stack, interval time.Duration, stop <-chan struct{}) func() ([]client.WorkflowRun, []string) {
	var runs []client.WorkflowRun
	var uuids []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			req, u := buildRequest(fmt.Sprintf("stream-%d", i), "/bin/true")
			run, err := s.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
				ID: "build-" + u, TaskQueue: "conductor", WorkflowExecutionTimeout: 10 * time.Minute,
			}, "conductor.build_instances", req)
			if err != nil {
				// The Temporal server may be down: the caller sees it and
				// tries again later, as a user would.
				continue
			}
			runs = append(runs, run)
			uuids = append(uuids, u)
		}
	}()
	return func() ([]client.WorkflowRun, []string) {
		<-done
		return runs, uuids
	}
}

// startCloud starts two fake compute hosts, a scheduler and a conductor,
// and builds n instances on them. Power operations take 500 ms, so that a
// fault often finds one half done.
func startCloud(t *testing.T, s *stack, n int) []string {
	t.Helper()
	for _, h := range []string{"node-a", "node-b"} {
		s.start("compute", h, map[string]string{
			"NOVAFLOW_COMPUTE_DRIVER":         HoldFakeDriver,
			"NOVAFLOW_COMPUTE_DRIVER_OPTIONS": "hold_power:500ms,vcpus:1000,memory_mb:1000000,disk_gb:100000",
		})
	}
	s.start("scheduler", "sched-1", nil)
	s.start("conductor", "cond-1", nil)
	var uuids []string
	var runs []client.WorkflowRun
	for i := range n {
		req, u := buildRequest(fmt.Sprintf("vm-%d", i), "/bin/true")
		runs = append(runs, s.startBuild("build-"+u, req))
		uuids = append(uuids, u)
	}
	waitBuilds(t, runs)
	return uuids
}

// waitBuilds waits for builds and fails the test unless each made its
// instance active.
func waitBuilds(t *testing.T, runs []client.WorkflowRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, run := range runs {
		res, err := buildOutcome(ctx, run)
		if err != nil {
			t.Errorf("build %s: %v", run.GetID(), err)
			continue
		}
		if b := res.Instances[0]; b.VMState != "active" {
			t.Errorf("build %s: %s: %s", run.GetID(), b.VMState, b.Fault)
		}
	}
}

// checkOps checks that every operation succeeded and left exactly one
// instance_actions row with result Success: by its request id when it had
// one, else by counting the rows of its instance and action.
func checkOps(t *testing.T, s *stack, ops []op) {
	t.Helper()
	ctx := context.Background()
	sent := map[[2]string]int{}
	for _, o := range ops {
		if o.err != nil {
			t.Errorf("%s of %s (request %q) failed: %v", o.action, o.instance, o.requestID, o.err)
			continue
		}
		if o.requestID == "" {
			sent[[2]string{o.instance, o.action}]++
			continue
		}
		var rows, success int
		if err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE result = 'Success') FROM instance_actions
			WHERE instance_uuid = $1 AND request_id = $2 AND action = $3`, o.instance, o.requestID, o.action).Scan(&rows, &success); err != nil {
			t.Fatal(err)
		}
		if rows != 1 || success != 1 {
			t.Errorf("%s of %s (request %s): %d rows, %d with Success; want one", o.action, o.instance, o.requestID, rows, success)
		}
	}
	for k, n := range sent {
		var rows, success int
		if err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE result = 'Success') FROM instance_actions
			WHERE instance_uuid = $1 AND action = $2`, k[0], k[1]).Scan(&rows, &success); err != nil {
			t.Fatal(err)
		}
		if rows != n || success != n {
			t.Errorf("%s of %s without a request id: %d asked for, %d rows, %d with Success", k[1], k[0], n, rows, success)
		}
	}
}

// TestRestartPostgresUnderLoad stops PostgreSQL for a few seconds while
// stop/start operations and builds stream in: the services stay up, their
// reports recover, and no operation is lost: each succeeds with exactly
// one instance_actions row with a final result.
func TestRestartPostgresUnderLoad(t *testing.T) {
	s := newStack(t, stackOptions{ownPostgres: true})
	instances := startCloud(t, s, 6)
	restartUnderLoad(t, s, instances, 500*time.Millisecond, "PostgreSQL", func() { s.restartPostgres(3 * time.Second) })
	for key, p := range s.procs {
		var errs []string
		for _, l := range strings.Split(p.output(), "\n") {
			if strings.Contains(l, "level=ERROR") {
				errs = append(errs, l)
			}
		}
		t.Logf("%s logged %d lines at error level, the first: %s", key, len(errs), strings.Join(errs[:min(3, len(errs))], "\n"))
	}
}

// TestRestartTemporalUnderLoad stops the file-backed Temporal server for a
// few seconds while builds and operations stream in: the services'
// workers reconnect without a restart, the builds in flight complete, and
// no operation is lost.
func TestRestartTemporalUnderLoad(t *testing.T) {
	// A Temporal outage stops the status reports too, and they resume only
	// once the workers have reconnected (up to ~10 s on a loaded machine). The
	// services therefore run with the default service_down_time (25 s), as
	// in production; with 5 s they would all count as down for a moment and
	// the scheduler rightly find no host.
	s := newStack(t, stackOptions{fileTemporal: true, serviceDownTime: "25s"})
	instances := startCloud(t, s, 4)
	restartUnderLoad(t, s, instances, 300*time.Millisecond, "Temporal", func() { s.restartTemporal(3 * time.Second) })
}

// restartUnderLoad streams stop/start operations on instances and a build
// every buildEvery, runs restart (which stops what and starts it again) 5 s
// in, lets the load go on for 10 s after it, then checks that nothing was
// lost: every service running and reporting again, every operation done
// once, every build finished, the nodes' usage what their instances add up
// to.
func restartUnderLoad(t *testing.T, s *stack, instances []string, buildEvery time.Duration, what string, restart func()) {
	t.Helper()
	c, err := rpc.New(rpc.Options{Temporal: s.tc, ResponseTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	opsDone := opStream(t, c, instances, stop)
	buildsDone := buildStream(s, buildEvery, stop)

	time.Sleep(5 * time.Second)
	t.Logf("stopping %s", what)
	restart()
	restarted := time.Now()
	reports := s.watchReports(restarted)
	t.Logf("%s is back", what)
	time.Sleep(10 * time.Second)
	close(stop)
	ops := opsDone()
	runs, built := buildsDone()
	t.Logf("%d operations and %d builds asked for", len(ops), len(runs))
	waitBuilds(t, runs)

	s.checkRunning()
	checkOps(t, s, ops)
	active, failed := s.checkAccounting(append(instances, built...))
	if failed != 0 {
		t.Errorf("%d instances active, %d in error; want all active", active, failed)
	}
	t.Logf("every service reported again %s after the restart", reports().Round(time.Millisecond))
}

// watchReports watches, from now on, for every service of the stack to
// report after t0; the returned function waits for that (30 s at most) and
// returns how long after t0 it happened.
func (s *stack) watchReports(t0 time.Time) func() time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		for time.Since(t0) < 2*time.Minute {
			recs, _, err := s.services.List(context.Background(), servicegroup.Filter{})
			ok := err == nil && len(recs) == len(s.procs)
			for _, r := range recs {
				ok = ok && r.LastSeenUp != nil && r.LastSeenUp.After(t0)
			}
			if ok {
				done <- time.Since(t0)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		done <- -1
	}()
	return func() time.Duration {
		s.t.Helper()
		d := <-done
		if d < 0 {
			s.t.Errorf("some services did not report within 2 minutes of the restart")
		}
		return d
	}
}
