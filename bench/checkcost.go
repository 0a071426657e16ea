package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/workflows"
)

// runCheckCost measures what the check at the start of a framework run
// (workflows.CheckRunName) costs in the server's own action counter, per
// run: a status report run of three reports and a periodic run over one
// host, each with the check behind its workflow.GetVersion gate (an input
// without check, as every run before the services' schedules said check)
// and without it (check: true). The framework's workflows run on a plain
// SDK worker with stand-in activities, so only the workflows' own actions
// count.
func runCheckCost(ctx context.Context, args []string) error {
	_, err := checkCost(ctx, args)
	return err
}

// ccRow is one kind and variant of runCheckCost's table.
type ccRow struct {
	kind          string
	check         bool
	runs          int
	actions, evts float64 // per run
}

// checkCost runs the runs args choose, prints their table and returns it.
func checkCost(ctx context.Context, args []string) ([]ccRow, error) {
	fs := flag.NewFlagSet("checkcost", flag.ContinueOnError)
	var so serverOptions
	so.register(fs)
	runs := fs.Int("runs", 5, "runs of each kind and variant")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, so)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c, err := srv.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	const topic, host = "bench", "h1"
	report, periodic := workflows.ReportStateName(topic), workflows.PeriodicName(topic, "tick")
	w := sdkworker.New(c, topic, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(workflows.ReportState, workflow.RegisterOptions{Name: report})
	w.RegisterWorkflowWithOptions(workflows.Periodic, workflow.RegisterOptions{Name: periodic})
	w.RegisterActivityWithOptions(func(context.Context, workflows.CheckRunRequest) (workflows.CheckRunResult, error) {
		return workflows.CheckRunResult{}, nil
	}, activity.RegisterOptions{Name: workflows.CheckRunName})
	w.RegisterActivityWithOptions(func(context.Context, workflows.ReportRequest) (workflows.ReportResult, error) {
		return workflows.ReportResult{Seen: 1, Reported: 1}, nil
	}, activity.RegisterOptions{Name: report})
	w.RegisterActivityWithOptions(func(context.Context, workflows.UpHostsRequest) (workflows.UpHostsResult, error) {
		return workflows.UpHostsResult{Hosts: []string{host}}, nil
	}, activity.RegisterOptions{Name: workflows.UpHostsName})
	hw := sdkworker.New(c, workflows.HostQueue(topic, host), sdkworker.Options{})
	hw.RegisterActivityWithOptions(func(context.Context, workflows.PeriodicRequest) (workflows.PeriodicResult, error) {
		return workflows.PeriodicResult{}, nil
	}, activity.RegisterOptions{Name: periodic})
	for _, wk := range []sdkworker.Worker{w, hw} {
		if err := wk.Start(); err != nil {
			return nil, err
		}
		defer wk.Stop()
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tcheck\truns\tactions per run\tevents per run")
	var rows []ccRow
	for _, kind := range []string{report, periodic} {
		for _, check := range []bool{false, true} {
			var arg any = workflows.PeriodicRequest{Topic: topic, Task: "tick", Check: check}
			if kind == report {
				arg = workflows.ReportRequest{Topic: topic, Every: "1s", For: "3s", Check: check}
			}
			// The counter is read once the runs are over and again a
			// second later, until it stops moving.
			a0 := settled(srv)
			events := 0
			for i := range *runs {
				run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: fmt.Sprintf("checkcost-%s-%t-%d-%d", kind, check, i, time.Now().UnixNano()), TaskQueue: topic,
				}, kind, arg)
				if err != nil {
					return nil, err
				}
				if err := run.Get(ctx, nil); err != nil {
					return nil, fmt.Errorf("%s: %w", kind, err)
				}
				it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
				for it.HasNext() {
					if _, err := it.Next(); err != nil {
						return nil, err
					}
					events++
				}
			}
			a := settled(srv) - a0
			gate := "gated (GetVersion)"
			if check {
				gate = "check: true (no gate)"
			}
			r := ccRow{kind: kind, check: check, runs: *runs, actions: a / float64(*runs), evts: float64(events) / float64(*runs)}
			rows = append(rows, r)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.1f\n", kind, gate, r.runs, r.actions, r.evts)
		}
	}
	return rows, tw.Flush()
}

// settled is the server's action counter once it has not moved for a
// second.
func settled(srv *server) float64 {
	last := srv.counter("action", `namespace="default"`)
	for range 30 {
		time.Sleep(time.Second)
		now := srv.counter("action", `namespace="default"`)
		if now == last {
			return now
		}
		last = now
	}
	return last
}
