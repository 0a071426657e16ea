package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	_ "github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/managers/conductor"
	_ "github.com/novaflow/novaflow/managers/scheduler"
	"github.com/novaflow/novaflow/worker"
)

// The raw-SDK ceiling of a build: the same workflow shape as
// conductor.build_instances with activities that do nothing. A parent runs
// create (on the conductor's queue) and select (on the scheduler's), then a
// child runs build (on a host's queue) and finish (on the conductor's).
const (
	rawBuildName      = "rawbuild.build_instances"
	rawBuildChildName = "rawbuild.build_instance"
	rawBuildQueue     = "rawbuild"
	rawSchedQueue     = "rawbuild-scheduler"
)

func rawBuildWorkflow(ctx workflow.Context, hosts int) error {
	ao := workflow.ActivityOptions{ScheduleToCloseTimeout: time.Minute}
	ctx = workflow.WithActivityOptions(ctx, ao)
	if err := workflow.ExecuteActivity(ctx, "rawbuild.create").Get(ctx, nil); err != nil {
		return err
	}
	var host int
	sctx := workflow.WithTaskQueue(ctx, rawSchedQueue)
	if err := workflow.ExecuteActivity(sctx, "rawbuild.select", hosts).Get(ctx, &host); err != nil {
		return err
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "/1"})
	return workflow.ExecuteChildWorkflow(cctx, rawBuildChildName, host).Get(ctx, nil)
}

func rawBuildChild(ctx workflow.Context, host int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{ScheduleToCloseTimeout: time.Minute})
	hctx := workflow.WithTaskQueue(ctx, fmt.Sprintf("%s.h%d", rawBuildQueue, host))
	if err := workflow.ExecuteActivity(hctx, "rawbuild.build").Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteActivity(ctx, "rawbuild.finish").Get(ctx, nil)
}

func runBuilds(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("builds", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	hosts := fs.Int("hosts", 10, "compute hosts (fake driver)")
	inflight := fs.Int("inflight", 8, "builds in flight")
	dur := fs.Duration("duration", 20*time.Second, "duration of each run (two per side, interleaved)")
	fs.Parse(args)

	srv, pg, stop, err := startServerAndPostgres(ctx, so)
	if err != nil {
		return err
	}
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	defer pool.Close()

	// The control plane, as novaflow dev runs it: one process, one client.
	base := srv.config(pg.url, "")
	base.ReportInterval = 10 * time.Second // the scheduler only picks hosts that are up
	base.PeriodicEnable = true
	base.PeriodicFuzzyDelay = 60 * time.Second
	tc, err := worker.Dial(ctx, base, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	var services []*worker.Service
	defer func() {
		for _, s := range services {
			s.Stop(context.Background())
		}
	}()
	start := func(topic, host string, mc any) error {
		cfg := base
		cfg.Host = host
		svc, err := worker.Create(cfg, worker.Options{Topic: topic, Temporal: tc, DB: pool, Logger: logger, ManagerConfig: mc})
		if err != nil {
			return err
		}
		if err := svc.Start(ctx); err != nil {
			return fmt.Errorf("start %s on %s: %w", topic, host, err)
		}
		services = append(services, svc)
		return nil
	}
	progress("starting conductor, scheduler and %d compute hosts", *hosts)
	if err := start("conductor", "cond-1", nil); err != nil {
		return err
	}
	if err := start("scheduler", "sched-1", nil); err != nil {
		return err
	}
	for i := range *hosts {
		s := managers.Defaults[computemgr.Settings]()
		s.Driver = "fake"
		s.DriverOptions = map[string]string{"vcpus": "1000000", "memory_mb": "1000000000", "disk_gb": "100000000"}
		if err := start("compute", fmt.Sprintf("build-%02d", i+1), &s); err != nil {
			return err
		}
	}

	// The raw ceiling's workers, on a plain client.
	rc, err := srv.dial(ctx, logger)
	if err != nil {
		return err
	}
	defer rc.Close()
	noop := func(context.Context) error { return nil }
	pick := func(_ context.Context, n int) (int, error) { return 1 + int(time.Now().UnixNano()%int64(n)), nil }
	queues := []string{rawBuildQueue, rawSchedQueue}
	for i := range *hosts {
		queues = append(queues, fmt.Sprintf("%s.h%d", rawBuildQueue, i+1))
	}
	for _, q := range queues {
		w := sdkworker.New(rc, q, sdkworker.Options{})
		w.RegisterWorkflowWithOptions(rawBuildWorkflow, workflow.RegisterOptions{Name: rawBuildName})
		w.RegisterWorkflowWithOptions(rawBuildChild, workflow.RegisterOptions{Name: rawBuildChildName})
		for _, name := range []string{"rawbuild.create", "rawbuild.build", "rawbuild.finish"} {
			w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: name})
		}
		w.RegisterActivityWithOptions(pick, activity.RegisterOptions{Name: "rawbuild.select"})
		if err := w.Start(); err != nil {
			return err
		}
		defer w.Stop()
	}

	build := func(ctx context.Context, seq int) (time.Duration, error) {
		in := json.RawMessage(`{"name":"bench","flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`)
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-build/" + uuid.NewString(), TaskQueue: conductor.Topic,
			WorkflowExecutionTimeout: 5 * time.Minute}, conductor.BuildInstancesName, in)
		if err != nil {
			return 0, err
		}
		var res conductor.BuildResult
		if err := run.Get(ctx, &res); err != nil {
			return 0, err
		}
		if len(res.Instances) != 1 || res.Instances[0].VMState != "active" {
			return 0, fmt.Errorf("build result %+v", res)
		}
		return 0, nil
	}
	raw := func(ctx context.Context, seq int) (time.Duration, error) {
		run, err := rc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "raw-build/" + uuid.NewString(), TaskQueue: rawBuildQueue,
			WorkflowExecutionTimeout: 5 * time.Minute}, rawBuildName, *hosts)
		if err != nil {
			return 0, err
		}
		return 0, run.Get(ctx, nil)
	}
	// One of each first: every host's node row and report exist.
	time.Sleep(2 * time.Second)
	if _, err := build(ctx, 0); err != nil {
		return fmt.Errorf("first build: %w", err)
	}
	if _, err := raw(ctx, 0); err != nil {
		return fmt.Errorf("first raw build: %w", err)
	}

	out := os.Stdout
	header(out, "Builds per second, end to end",
		"server: "+so.describe(),
		fmt.Sprintf("novaflow: conductor.build_instances of 1 instance (create_instances, select_destinations with claim, build_and_run_instance on the chosen host, finish_build), conductor + scheduler + %d compute hosts (fake driver) in one process, PostgreSQL in test mode", *hosts),
		"raw ceiling: the same workflow shape (parent with 2 activities on the conductor's and the scheduler's queues, child with an activity on a host queue and one on the conductor's) with activities that do nothing",
		fmt.Sprintf("%d builds in flight, 2 x %s per side, interleaved", *inflight, *dur))
	sides := []struct {
		name string
		o    op
	}{{"raw ceiling", raw}, {"novaflow build", build}}
	rates := map[string][]float64{}
	lats := map[string]*latencies{}
	cpus := map[string]time.Duration{}
	for round := range 2 {
		for _, s := range sides {
			cpu := procCPU(srv.pid())
			r, l, err := throughput(ctx, s.o, *inflight, *dur)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			cpus[s.name] += procCPU(srv.pid()) - cpu
			rates[s.name] = append(rates[s.name], r)
			if lats[s.name] == nil {
				lats[s.name] = &latencies{}
			}
			for _, d := range l.d {
				lats[s.name].add(d)
			}
			progress("%s round %d: %.1f builds/s", s.name, round+1, r)
		}
	}
	fmt.Fprintln(out, "| side | builds/s (round 1, round 2) | mean | latency p50 / p99 ms | server CPU (cores) | ratio to the raw ceiling |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	mean := func(v []float64) float64 { return (v[0] + v[1]) / 2 }
	for _, s := range sides {
		m := lats[s.name].summary()
		fmt.Fprintf(out, "| %s | %.1f, %.1f | %.1f | %s / %s | %.2f | %s |\n", s.name, rates[s.name][0], rates[s.name][1], mean(rates[s.name]),
			ms(m.p50), ms(m.p99), cpus[s.name].Seconds()/(2*dur.Seconds()), ratio(mean(rates[s.name]), mean(rates["raw ceiling"])))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "load average (1 min) at end: %s\n\n", loadAvg())
	return nil
}
