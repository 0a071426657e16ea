package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	_ "github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/internal/db"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/worker"
)

// countingHandler counts log records of warning level and above by
// message, and drops them: the scale run reports what went wrong without
// flooding the terminal.
type countingHandler struct {
	mu     *sync.Mutex
	counts map[string]int
	attrs  []slog.Attr
}

func newCountingHandler() *countingHandler {
	return &countingHandler{mu: &sync.Mutex{}, counts: map[string]int{}}
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" || a.Key == "Error" {
			e := a.Value.String()
			if i := strings.IndexAny(e, "\n"); i > 0 {
				e = e[:i]
			}
			if len(e) > 120 {
				e = e[:120]
			}
			msg += ": " + e
		}
		return true
	})
	h.mu.Lock()
	h.counts[msg]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler         { return h }

// snapshot returns the counts so far.
func (h *countingHandler) snapshot() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.counts))
	for m, c := range h.counts {
		out[m] = c
	}
	return out
}

// since returns the n most frequent messages logged since before, with
// their counts.
func (h *countingHandler) since(before map[string]int, n int) []string {
	type mc struct {
		m string
		c int
	}
	var all []mc
	for m, c := range h.snapshot() {
		if d := c - before[m]; d > 0 {
			all = append(all, mc{m, d})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].c > all[j].c })
	var out []string
	for i, x := range all {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%6d  %s", x.c, x.m))
	}
	return out
}

func runScale(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	hosts := fs.Int("hosts", 500, "simulated compute hosts (fake driver), all in this process")
	window := fs.Duration("window", 5*time.Minute, "measured window, after every host has started and warm-up")
	warmup := fs.Duration("warmup", 30*time.Second, "wait after the last host started before measuring")
	startPar := fs.Int("start-concurrency", 8, "hosts started at once")
	report := fs.Duration("report-interval", 10*time.Second, "NOVAFLOW_REPORT_INTERVAL of every host")
	fuzzy := fs.Duration("fuzzy-delay", 60*time.Second, "NOVAFLOW_PERIODIC_FUZZY_DELAY of every host")
	fs.Parse(args)

	srv, pg, stop, err := startServerAndPostgres(ctx, so)
	if err != nil {
		return err
	}
	defer stop()

	logs := newCountingHandler()
	logger := slog.New(logs)
	base := srv.config(pg.url, "")
	base.ReportInterval = *report
	base.ServiceDownTime = max(25*time.Second, *report*5/2)
	base.PeriodicEnable = true
	base.PeriodicFuzzyDelay = *fuzzy
	base.LogLevel = "warn"
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	tc, err := worker.Dial(ctx, base, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	settings := computemgr.DefaultSettings()
	settings.Driver = "fake"

	// Start the hosts, a few at a time, as `novaflow dev --fake-hosts`
	// does: one client, one pool, a service per host.
	services := make([]*worker.Service, *hosts)
	var next, started atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	cpu0 := procCPU(srv.pid())
	t0 := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopProgress:
				return
			case <-time.After(10 * time.Second):
				progress("started %d of %d hosts", started.Load(), *hosts)
			}
		}
	}()
	var wg sync.WaitGroup
	for range *startPar {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *hosts {
					return
				}
				cfg := base
				cfg.Host = fmt.Sprintf("sim-%04d", i+1)
				s := settings
				var svc *worker.Service
				var err error
				for try := 0; try < 3; try++ { // a busy dev server fails a call now and then
					svc, err = worker.Create(cfg, worker.Options{Topic: computemgr.Topic, Temporal: tc, DB: pool, Logger: logger, ManagerConfig: &s})
					if err == nil {
						if err = svc.Start(ctx); err == nil {
							break
						}
					}
					time.Sleep(time.Second)
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("start host %s: %w", cfg.Host, err)
					}
					errMu.Unlock()
					return
				}
				services[i] = svc
				started.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	if firstErr != nil {
		return firstErr
	}
	startTook := time.Since(t0)
	startCPU := procCPU(srv.pid()) - cpu0
	progress("all %d hosts started in %s; warming up for %s", *hosts, startTook.Round(time.Second), *warmup)
	select {
	case <-time.After(*warmup):
	case <-ctx.Done():
		return ctx.Err()
	}

	// The window.
	runtime.GC()
	from := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(from))
	cpuFrom, selfFrom := procCPU(srv.pid()), procCPU(os.Getpid())
	actionsFrom := srv.counter("action", `namespace="default"`)
	logsFrom := logs.snapshot()
	diag := []string{"service_errors_resource_exhausted", "schedule_", "persistence_errors", "service_errors_"}
	diagFrom := srv.samples(diag...)
	progress("measuring for %s", *window)
	tick := time.NewTicker(30 * time.Second)
	deadline := time.After(*window)
measure:
	for {
		select {
		case <-tick.C:
			progress("  %s of %s; server CPU so far %.0f%%", time.Since(from).Round(time.Second), *window,
				100*float64(procCPU(srv.pid())-cpuFrom)/float64(time.Since(from)))
		case <-deadline:
			break measure
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tick.Stop()
	to := time.Now().Truncate(time.Second)
	serverCPU := procCPU(srv.pid()) - cpuFrom
	selfCPU := procCPU(os.Getpid()) - selfFrom
	actions := srv.counter("action", `namespace="default"`) - actionsFrom
	srvRSS, selfRSS := procRSS(srv.pid()), procRSS(os.Getpid())
	diagTo := srv.samples(diag...)
	goroutines := runtime.NumGoroutine()

	intervals := map[string]time.Duration{
		"report_state":              *report,
		"update_available_resource": settings.UpdateResourcesInterval,
		"sync_power_states":         settings.SyncPowerStateInterval,
		"reap_deleted_instances":    settings.ReapDeletedInterval,
	}
	jitters := map[string]time.Duration{}
	for k, iv := range intervals {
		if k != "report_state" {
			jitters[k] = min(*fuzzy, iv/2)
		}
	}
	// Give the runs nominally due before the end time, jitter included, time
	// to finish, then judge.
	wait := 15 * time.Second
	for _, j := range jitters {
		wait = max(wait, j+15*time.Second)
	}
	progress("window over; waiting %s for the last runs (jitter), then listing them", wait)
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	runs, err := listRuns(ctx, tc, from, to)
	if err != nil {
		return err
	}
	progress("listing the schedules")
	specs, err := describeSchedules(ctx, tc)
	if err != nil {
		return err
	}
	type stat struct {
		due, runs, late, failed, open, missing int
		delays                                 latencies
	}
	stats := map[string]*stat{}
	for k := range intervals {
		stats[k] = &stat{}
	}
	seen := map[string]map[time.Time]bool{}
	for _, r := range runs {
		sched, task, nominal, ok := scheduledRun(r.GetExecution().GetWorkflowId())
		if !ok || stats[task] == nil || nominal.Before(from) || !nominal.Before(to) || seen[sched][nominal] {
			continue
		}
		if seen[sched] == nil {
			seen[sched] = map[time.Time]bool{}
		}
		seen[sched][nominal] = true
		st := stats[task]
		st.runs++
		var d time.Duration
		switch r.GetStatus() {
		case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			d = r.GetCloseTime().AsTime().Sub(nominal)
		case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
			st.open++
			d = time.Since(nominal)
		default:
			st.failed++
			d = r.GetCloseTime().AsTime().Sub(nominal)
		}
		st.delays.add(d)
		failed := r.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED && r.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING
		if d > intervals[task]+jitters[task] || failed {
			st.late++
		}
	}
	for id, sp := range specs {
		task := "report_state"
		if strings.HasPrefix(id, "periodic:") {
			task = id[strings.LastIndexByte(id, ':')+1:]
		}
		st := stats[task]
		if st == nil {
			continue
		}
		for _, t := range nominalTimes(sp.every, sp.offset, from, to) {
			st.due++
			if !seen[id][t] {
				st.missing++
			}
		}
	}

	out := os.Stdout
	header(out, fmt.Sprintf("Scale: %d simulated compute hosts in one process", *hosts),
		"server: "+so.describe(),
		fmt.Sprintf("each host: compute manager, fake driver, report every %s, update_available_resource and sync_power_states every %s, reap_deleted_instances every %s, fuzzy delay %s",
			*report, settings.UpdateResourcesInterval, settings.ReapDeletedInterval, *fuzzy),
		fmt.Sprintf("window %s after %s of warm-up; PostgreSQL in test mode", to.Sub(from).Round(time.Second), *warmup))
	fmt.Fprintf(out, "Start-up: %d hosts in %s (%.1f hosts/s, %d at once), server CPU %.0f s.\n\n",
		*hosts, startTook.Round(time.Second), float64(*hosts)/startTook.Seconds(), *startPar, startCPU.Seconds())
	fmt.Fprintln(out, "| run | interval (+ max jitter) | due in window | ran | missing | done later than interval + jitter after nominal, or failed | still open | done after nominal p50 / p99 / max (s) |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	totalDue, totalLate := 0, 0
	for _, k := range []string{"report_state", "update_available_resource", "sync_power_states", "reap_deleted_instances"} {
		st := stats[k]
		totalDue += st.due
		totalLate += st.missing + st.late
		m := st.delays.summary()
		fmt.Fprintf(out, "| %s | %s (+%s) | %d | %d | %d | %d | %d | %s / %s / %s |\n", k, intervals[k], jitters[k], st.due, st.runs, st.missing, st.late, st.open,
			secs(m.p50), secs(m.p99), secs(m.max))
	}
	fmt.Fprintln(out)
	pct := 100 * float64(totalLate) / float64(max(totalDue, 1))
	fmt.Fprintf(out, "Late or missing: %d of %d runs due (%.2f%%; target <= 1%%: %s).\n\n",
		totalLate, totalDue, pct, map[bool]string{true: "met", false: "**missed**"}[pct <= 1])
	win := to.Sub(from).Seconds()
	fmt.Fprintln(out, "| cost | value |")
	fmt.Fprintln(out, "|---|---|")
	fmt.Fprintf(out, "| server CPU | %.2f cores (%.0f%% of the machine) |\n", serverCPU.Seconds()/win, 100*serverCPU.Seconds()/win/float64(runtime.NumCPU()))
	fmt.Fprintf(out, "| simulation process CPU (%d hosts) | %.2f cores |\n", *hosts, selfCPU.Seconds()/win)
	fmt.Fprintf(out, "| server actions/s (namespace default) | %.1f (%.2f per host) |\n", actions/win, actions/win/float64(*hosts))
	fmt.Fprintf(out, "| server RSS | %d MiB |\n", srvRSS>>20)
	fmt.Fprintf(out, "| simulation process RSS | %d MiB (%.1f MiB per host), %d goroutines |\n", selfRSS>>20, float64(selfRSS)/float64(*hosts)/(1<<20), goroutines)
	fmt.Fprintln(out)
	if top := logs.since(logsFrom, 15); len(top) > 0 {
		fmt.Fprintln(out, "Warnings and errors logged during the window (count, message):")
		fmt.Fprintln(out)
		for _, l := range top {
			fmt.Fprintf(out, "    %s\n", l)
		}
		fmt.Fprintln(out)
	}
	var grew []string
	for k, v := range diagTo {
		if d := v - diagFrom[k]; d > 0 && !strings.Contains(k, "_bucket") && !strings.Contains(k, "_sum") {
			grew = append(grew, fmt.Sprintf("%10.0f  %s", d, k))
		}
	}
	if len(grew) > 0 {
		sort.Strings(grew)
		fmt.Fprintln(out, "Server counters of errors and schedules that grew during the window:")
		fmt.Fprintln(out)
		for _, g := range grew {
			fmt.Fprintf(out, "    %s\n", g)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "load average (1 min) at end: %s\n\n", loadAvg())
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

// scheduledRun parses the workflow ID of a run a schedule started:
// report:<binary>:<host>-<nominal> or periodic:<topic>:<host>:<task>-<nominal>
// (the nominal time, before jitter, truncated to the second).
func scheduledRun(id string) (sched, task string, nominal time.Time, ok bool) {
	i := strings.LastIndex(id, "-20")
	if i < 0 {
		return "", "", time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, id[i+1:])
	if err != nil {
		return "", "", time.Time{}, false
	}
	sched = id[:i]
	switch {
	case strings.HasPrefix(sched, "report:"):
		return sched, "report_state", t, true
	case strings.HasPrefix(sched, "periodic:"):
		return sched, sched[strings.LastIndexByte(sched, ':')+1:], t, true
	}
	return "", "", time.Time{}, false
}

// nominalTimes are the times in [from, to) of an interval schedule (every,
// offset), truncated to the second as the runs' workflow IDs have them.
func nominalTimes(every, offset time.Duration, from, to time.Time) []time.Time {
	if every <= 0 {
		return nil
	}
	first := from.Add(-offset).Truncate(every).Add(offset)
	if first.Before(from) {
		first = first.Add(every)
	}
	var out []time.Time
	for t := first; t.Before(to); t = t.Add(every) {
		out = append(out, t.UTC().Truncate(time.Second))
	}
	return out
}

// listRuns lists the compute runs started from a little before from until
// a little after to.
func listRuns(ctx context.Context, c client.Client, from, to time.Time) ([]*workflowpb.WorkflowExecutionInfo, error) {
	q := fmt.Sprintf("NovaflowTopic = 'compute' AND StartTime >= '%s' AND StartTime < '%s'",
		from.Add(-2*time.Minute).UTC().Format(time.RFC3339Nano), to.Add(5*time.Minute).UTC().Format(time.RFC3339Nano))
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		var resp *workflowservice.ListWorkflowExecutionsResponse
		var err error
		for try := 0; try < 5; try++ { // a busy dev server can take long to answer
			lctx, cancel := context.WithTimeout(ctx, time.Minute)
			resp, err = c.ListWorkflow(lctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token, PageSize: 500})
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, resp.GetExecutions()...)
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

// scheduleSpec is what the scale run needs of a schedule.
type scheduleSpec struct {
	every, offset time.Duration
}

// describeSchedules lists every schedule with its interval. (Describing
// each, which would also give its skip counters, is a query that the
// server's own scheduler worker answers one by one: far too slow at this
// scale.)
func describeSchedules(ctx context.Context, c client.Client) (map[string]scheduleSpec, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, err
	}
	out := map[string]scheduleSpec{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		var sp scheduleSpec
		if e.Spec != nil && len(e.Spec.Intervals) == 1 {
			sp.every, sp.offset = e.Spec.Intervals[0].Every, e.Spec.Intervals[0].Offset
		}
		out[e.ID] = sp
	}
	return out, nil
}
