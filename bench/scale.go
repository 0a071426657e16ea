package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/novaflow/novaflow/activities"
	_ "github.com/novaflow/novaflow/drivers/compute/fake"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	computemgr "github.com/novaflow/novaflow/managers/compute"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
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

// The scale command's targets: at most 1% of the hosts' periodic runs late,
// and a SIGKILLed host shown down within 30 s.
const (
	// scaleLateTarget: at most this share of the due host-runs of periodic
	// tasks late by more than one interval, in %.
	scaleLateTarget = 1.0
	// scaleKillTarget: a SIGKILLed host shows down within this long.
	scaleKillTarget = 30 * time.Second
)

// killedHost is the compute host that runs as its own process and is
// SIGKILLed in the middle of the window.
const killedHost = "sigkill-1"

// designTopic names the design this command measures in its CSV: a
// Schedule per topic, liveness from worker heartbeats.
const designTopic = "per-topic"

// scaleConfig is what every N of a sweep shares.
type scaleConfig struct {
	so       serverOptions
	window   time.Duration
	warmup   time.Duration
	startPar int
	report   time.Duration // report_interval
	downTime time.Duration // service_down_time as configured
	fuzzy    time.Duration // periodic_fuzzy_delay
	kill     bool          // run killedHost as a process and SIGKILL it
	judgeMax time.Duration // longest wait after the window for its runs
	bin      string        // the novaflow binary of killedHost
	settings computemgr.Settings
}

// effectiveDownTime is service_down_time as Status judges it.
func (c scaleConfig) effectiveDownTime() time.Duration {
	return servicegroup.DownTime(c.downTime, c.report)
}

// interval of a schedule's task: report_state or a compute periodic task.
func (c scaleConfig) intervals() map[string]time.Duration {
	return map[string]time.Duration{
		workflows.ReportStateMethod: c.report,
		"update_available_resource": c.settings.UpdateResourcesInterval,
		"sync_power_states":         c.settings.SyncPowerStateInterval,
		"reap_deleted_instances":    c.settings.ReapDeletedInterval,
	}
}

var periodicTasks = []string{"update_available_resource", "sync_power_states", "reap_deleted_instances"}

// spread is how far the hosts' parts of a run of a task every interval are
// spread: min(periodic_fuzzy_delay, interval / 2), as worker.planSchedules.
func (c scaleConfig) spread(every time.Duration) time.Duration { return min(c.fuzzy, every/2) }

func runScale(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	var cfg scaleConfig
	cfg.so.register(fs)
	hostList := fs.String("hosts", "500", "simulated compute hosts (fake driver) in this process: a number, or a comma-separated list for a sweep (each N on a fresh server and database); N:window sets that N's window (1000:2m)")
	fs.DurationVar(&cfg.window, "window", 3*time.Minute, "measured window, after every host has started and warm-up")
	fs.DurationVar(&cfg.warmup, "warmup", 75*time.Second, "wait after the last host started before measuring")
	fs.IntVar(&cfg.startPar, "start-concurrency", 8, "hosts started at once")
	fs.DurationVar(&cfg.report, "report-interval", 10*time.Second, "NOVAFLOW_REPORT_INTERVAL of every host")
	fs.DurationVar(&cfg.downTime, "service-down-time", servicegroup.DefaultServiceDownTime, "NOVAFLOW_SERVICE_DOWN_TIME of every host")
	fs.DurationVar(&cfg.fuzzy, "fuzzy-delay", 60*time.Second, "NOVAFLOW_PERIODIC_FUZZY_DELAY of every host")
	cfg.settings = managers.Defaults[computemgr.Settings]()
	cfg.settings.Driver = "fake"
	fs.DurationVar(&cfg.settings.UpdateResourcesInterval, "update-resources-interval", cfg.settings.UpdateResourcesInterval, "NOVAFLOW_COMPUTE_UPDATE_RESOURCES_INTERVAL of every host (update_available_resource)")
	fs.DurationVar(&cfg.settings.SyncPowerStateInterval, "sync-power-state-interval", cfg.settings.SyncPowerStateInterval, "NOVAFLOW_COMPUTE_SYNC_POWER_STATE_INTERVAL of every host")
	fs.DurationVar(&cfg.settings.ReapDeletedInterval, "reap-deleted-interval", cfg.settings.ReapDeletedInterval, "NOVAFLOW_COMPUTE_REAP_DELETED_INTERVAL of every host")
	fs.BoolVar(&cfg.kill, "kill", true, "also run one compute host as its own process (`novaflow run compute`) and SIGKILL it in the middle of the window")
	fs.DurationVar(&cfg.judgeMax, "judge-wait", 10*time.Minute, "longest wait after the window for its runs to close (a run still open then is late)")
	csvPath := fs.String("csv", "", "CSV of the results, one row per N (default: novaflow-bench-scale-<time>.csv in the temp dir)")
	pngPath := fs.String("png", "", "plot of the CSV (default: the CSV's path with .png)")
	doPlot := fs.Bool("plot", true, "draw the plot with the bench/plot module (go run)")
	var also listFlag
	fs.Var(&also, "also", "another CSV of this command (say, of an earlier run or design) to draw in the same plot (repeatable)")
	before := fs.String("before", "", "git revision of the per-host design (e.g. 6fd2f98): also run its `bench scale` for every N, from a git worktree, and add its rows as design per-host")
	beforeWindow := fs.Duration("before-window", 2*time.Minute, "window of the -before runs")
	topic := fs.Bool("topic", true, "measure this checkout's design (per-topic); -topic=false with -before measures only the design before")
	fs.Parse(args)

	var ns []int
	windows := map[int]time.Duration{}
	for _, f := range strings.Split(*hostList, ",") {
		num, win, hasWin := strings.Cut(strings.TrimSpace(f), ":")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			return fmt.Errorf("-hosts %q: want a positive number or a comma-separated list of them (N or N:window)", *hostList)
		}
		if hasWin {
			if windows[n], err = time.ParseDuration(win); err != nil || windows[n] <= 0 {
				return fmt.Errorf("-hosts %q: window %q: want a positive duration", *hostList, win)
			}
		}
		ns = append(ns, n)
	}
	if cfg.so.address != "" && len(ns) > 1 {
		return errors.New("-temporal-address: a sweep needs a fresh server for every N; give one N")
	}
	if *csvPath == "" {
		*csvPath = filepath.Join(os.TempDir(), "novaflow-bench-scale-"+time.Now().UTC().Format("20060102-150405")+".csv")
	}
	if *pngPath == "" {
		*pngPath = strings.TrimSuffix(*csvPath, ".csv") + ".png"
	}

	if !*topic && *before == "" {
		return errors.New("-topic=false: nothing to measure without -before")
	}
	if cfg.kill && *topic {
		dir, err := os.MkdirTemp("", "novaflow-bench-scale-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.bin = filepath.Join(dir, "novaflow")
		progress("building ./cmd/novaflow for the host that is SIGKILLed")
		if err := goBuild(ctx, moduleRoot(), cfg.bin); err != nil {
			return err
		}
	}

	out := os.Stdout
	var rows []*scaleRow
	for _, n := range ns {
		if !*topic {
			break
		}
		cfgN := cfg
		if w, ok := windows[n]; ok {
			cfgN.window = w
		}
		row := measureScale(ctx, cfgN, n, out)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rows = append(rows, row)
		if err := writeScaleCSV(*csvPath, rows); err != nil {
			return err
		}
	}
	if *before != "" {
		for _, n := range ns {
			row := runScaleBefore(ctx, cfg, *before, n, *beforeWindow)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rows = append(rows, row)
			if err := writeScaleCSV(*csvPath, rows); err != nil {
				return err
			}
		}
	}

	hostsLine := "hosts: N compute services (compute manager, fake driver) in one process sharing one Temporal client and one pgx pool (as `novaflow dev --fake-hosts N`)"
	if cfg.kill {
		hostsLine += fmt.Sprintf(", plus one `novaflow run compute` process (%s) SIGKILLed in the middle of the window", killedHost)
	}
	lines := []string{"server: " + cfg.so.describe()}
	if *topic {
		lines = append(lines, hostsLine,
			fmt.Sprintf("settings: report_interval %s, service_down_time %s (effective %s), update_available_resource %s, sync_power_states %s, reap_deleted_instances %s, periodic_fuzzy_delay %s",
				cfg.report, cfg.downTime, cfg.effectiveDownTime(), cfg.settings.UpdateResourcesInterval, cfg.settings.SyncPowerStateInterval, cfg.settings.ReapDeletedInterval, cfg.fuzzy),
			fmt.Sprintf("window %s per N (unless N:window) after %s of warm-up; PostgreSQL in test mode", cfg.window, cfg.warmup))
	}
	if *before != "" {
		lines = append(lines, fmt.Sprintf("design per-host (%s): that revision's `go run ./bench scale -hosts N -window %s` in a git worktree, with its own defaults otherwise (30 s warm-up; its periodic spacings; its own dev server profile), its summary read from its report", *before, *beforeWindow))
	}
	header(out, "Scale: simulated compute hosts, a Schedule per topic", lines...)
	printScaleTable(out, rows)
	fmt.Fprintf(out, "CSV: %s\n", *csvPath)
	if *doPlot {
		if err := drawScalePlot(ctx, *pngPath, append([]string{*csvPath}, also...)); err != nil {
			fmt.Fprintf(out, "plot: **not drawn**: %v\n", err)
		} else {
			fmt.Fprintf(out, "plot: %s\n", *pngPath)
		}
	}
	fmt.Fprintln(out)
	for _, r := range rows {
		if r.err != "" {
			return fmt.Errorf("%d hosts (%s): %s", r.hosts, r.design, r.err)
		}
	}
	return nil
}

// scaleRow is what one N measured.
type scaleRow struct {
	design  string
	hosts   int
	window  time.Duration
	startup time.Duration
	err     string // why the run failed, "" when it ran

	// Liveness, sampled every second.
	samples, sampleErrors int
	notUpMax              int // most live hosts shown down or unknown at one sample
	notUpSamples          int // samples where at least one live host was
	downSeen, unknownSeen int // host-samples
	missingSeen           int // host-samples of a live host without a row
	firstNotUp            string
	maxAge                time.Duration // of last_seen_up of a live host

	// Reports of the topic, as the services table shows them: the times of
	// the reports (service_observers.observed_at) seen by the samples, and
	// the time of the last sample, on the database's clock.
	observed   []time.Time
	lastSample time.Time
	// reportDue is how many reports were due in the window (window /
	// report_interval), reportsSeen how many were made, reportLate how many
	// came more than one interval late (or never): a gap g between two
	// reports makes ceil(g / interval) - 2 of them.
	reportDue, reportsSeen, reportLate int
	reportGaps                         latencies
	reportMaxGapAt                     time.Time // when the longest gap ended
	// The runs of the report schedule that overlap the window (informative:
	// a run may report many times), those that failed, and the failed
	// reports the closed ones counted.
	reportEvery                                      time.Duration
	reportRuns, reportRunsFailed, reportFailedInRuns int

	// Periodic tasks of the topic.
	tasks map[string]*taskStat

	// The host run as its own process.
	killAt        time.Time
	killDown      time.Duration // -1: not seen down
	killUnknown   bool          // shown unknown between the kill and down
	killLastSeen  time.Duration // age of its last_seen_up at the kill
	killDuringRun bool          // killed while a part of a periodic run of its was due

	// Costs over the window.
	serverCPU, simCPU, pgCPU float64 // cores
	machineBusy              float64 // fraction of all cores
	actions                  float64 // per second
	serverRSS, simRSS        int64
	goroutines               int
	logs, counters, extLogs  []string
	ops                      []opRate // the server's requests per second, by operation
	load                     string

	// The per-host design's own summary (design before), from its table.
	beforeLateRuns, beforeDueRuns int
	beforeLatePct                 float64
}

// opRate is how many requests of one operation the server served per
// second.
type opRate struct {
	op   string
	rate float64
}

// requestsByOperation reads the server's service_requests counter, summed by
// operation (frontend, history and matching alike).
func requestsByOperation(srv *server) map[string]float64 {
	out := map[string]float64{}
	for line, v := range srv.samples("service_requests{") {
		op := "?"
		if i := strings.Index(line, `operation="`); i >= 0 {
			rest := line[i+len(`operation="`):]
			op = rest[:strings.IndexByte(rest, '"')]
		}
		out[op] += v
	}
	return out
}

// taskStat is the tally of one periodic task over the window.
type taskStat struct {
	every, spread                                    time.Duration
	dueRuns, runs, missing, failed, open, closedLate int
	dueHostRuns, lateHostRuns                        int
	unreachable, hostFailed, skipped, notInRun       int
	delays                                           latencies
}

func (r *scaleRow) periodicDue() (due, late int) {
	for _, t := range r.tasks {
		due += t.dueHostRuns
		late += t.lateHostRuns
	}
	return due, late
}

// periodicLatePct is the late share of the periodic host-runs, in %.
func (r *scaleRow) periodicLatePct() float64 {
	due, late := r.periodicDue()
	return 100 * float64(late) / float64(max(due, 1))
}

// latePct is the late share of all host-runs, reports and periodic tasks
// together, a report run counting once per host (as the per-host design,
// whose every run was one host's), in %: what the plot shows.
func (r *scaleRow) latePct() float64 {
	if r.design != designTopic {
		return r.beforeLatePct
	}
	due, late := r.periodicDue()
	n := r.hosts
	due += r.reportDue * n
	late += r.reportLate * n
	return 100 * float64(late) / float64(max(due, 1))
}

// met says whether the run met the targets: no live host shown down or
// unknown, every report on time, at most 1% of the periodic host-runs late,
// the killed host down within 30 s.
func (r *scaleRow) met() bool {
	if r.err != "" || r.design != designTopic {
		return false
	}
	killOK := r.killAt.IsZero() || (r.killDown >= 0 && r.killDown <= scaleKillTarget)
	return r.samples > 0 && r.notUpMax == 0 && r.missingSeen == 0 &&
		r.reportLate == 0 && r.reportsSeen > 0 &&
		r.periodicLatePct() <= scaleLateTarget && killOK
}

// measureScale runs n simulated hosts (and the killed host) on a fresh
// server and database, measures one window, prints its details and returns
// its row; a failure is in the row's err.
func measureScale(ctx context.Context, cfg scaleConfig, n int, out io.Writer) *scaleRow {
	row := &scaleRow{design: designTopic, hosts: n, window: cfg.window, killDown: -1, tasks: map[string]*taskStat{}}
	if err := measureScaleInto(ctx, cfg, n, row); err != nil {
		row.err = err.Error()
		progress("%d hosts: %v", n, err)
		fmt.Fprintf(out, "## Scale: %d hosts: failed\n\n%v\n\n", n, err)
		return row
	}
	printScaleDetails(out, cfg, row)
	return row
}

func measureScaleInto(ctx context.Context, cfg scaleConfig, n int, row *scaleRow) error {
	srv, pg, stopStack, err := startServerAndPostgres(ctx, cfg.so)
	if err != nil {
		return err
	}
	defer stopStack()

	logs := newCountingHandler()
	logger := slog.New(logs)
	base := srv.config(pg.url, "")
	base.ReportInterval = cfg.report
	base.ServiceDownTime = cfg.downTime
	base.PeriodicEnable = true
	base.PeriodicFuzzyDelay = cfg.fuzzy
	base.LogLevel = "warn"
	downTime := cfg.effectiveDownTime()
	// The hosts share one pool and one client, as novaflow dev's.
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
	// The measurements have their own, so that they neither wait behind the
	// hosts nor slow them down.
	watchPool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	defer watchPool.Close()
	store := servicegroup.NewStore(watchPool)
	watch, err := srv.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer watch.Close()

	// Start the hosts, the first alone (it migrates the database), then a
	// few at a time.
	progress("%d hosts: starting them, %d at once", n, cfg.startPar)
	services, took, startErr := startScaleHosts(ctx, cfg, base, n, tc, pool, logger)
	defer stopScaleHosts(services)
	if startErr != nil {
		return startErr
	}
	row.startup = took
	progress("%d hosts: all started in %s (%.1f hosts/s)", n, took.Round(time.Second), float64(n)/took.Seconds())

	var ext *service
	if cfg.kill {
		st := &stack{srv: srv, pg: pg, bin: cfg.bin, tc: watch}
		if st.dir, err = os.MkdirTemp("", "novaflow-bench-scale-run-"); err != nil {
			return err
		}
		defer os.RemoveAll(st.dir)
		ext, err = st.run("compute", killedHost, "LOG_LEVEL=warn", "VERSIONING=off",
			"REPORT_INTERVAL="+cfg.report.String(), "SERVICE_DOWN_TIME="+cfg.downTime.String(),
			"PERIODIC_ENABLE=true", "PERIODIC_FUZZY_DELAY="+cfg.fuzzy.String(),
			"COMPUTE_UPDATE_RESOURCES_INTERVAL="+cfg.settings.UpdateResourcesInterval.String(),
			"COMPUTE_SYNC_POWER_STATE_INTERVAL="+cfg.settings.SyncPowerStateInterval.String(),
			"COMPUTE_REAP_DELETED_INTERVAL="+cfg.settings.ReapDeletedInterval.String())
		if err != nil {
			return fmt.Errorf("start %s: %w", killedHost, err)
		}
		defer func() {
			select {
			case <-ext.done:
			default:
				ext.term()
			}
		}()
		if err := waitEvery(ctx, 2*time.Minute, 200*time.Millisecond, func() bool {
			recs, now, err := store.List(ctx, servicegroup.Filter{Host: killedHost})
			return err == nil && len(recs) == 1 && servicegroup.Status(recs[0], now, downTime) == servicegroup.Up
		}); err != nil {
			o := ext.output()
			return fmt.Errorf("%s (its own process) did not come up: %w; its output:\n%s", killedHost, err, o[max(0, len(o)-3000):])
		}
		progress("%d hosts: %s started as its own process", n, killedHost)
	}

	progress("%d hosts: warming up for %s", n, cfg.warmup)
	select {
	case <-time.After(cfg.warmup):
	case <-ctx.Done():
		return ctx.Err()
	}
	specs, err := topicSchedules(ctx, watch, cfg)
	if err != nil {
		return err
	}

	// The window.
	runtime.GC()
	from := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(from))
	to := from.Add(cfg.window)
	serverPid, selfPid, pgPid := srv.pid(), os.Getpid(), pg.pid()
	cpuFrom, selfFrom, pgFrom := procCPU(serverPid), procCPU(selfPid), procTreeCPU(pgPid)
	busyFrom, totalFrom := machineCPU()
	actionsFrom := srv.counter("action", `namespace="default"`)
	logsFrom := logs.snapshot()
	diag := []string{"service_errors_resource_exhausted", "schedule_", "persistence_errors", "service_errors_"}
	diagFrom := srv.samples(diag...)
	opsFrom := requestsByOperation(srv)
	extLinesFrom := 0
	if ext != nil {
		ext.mu.Lock()
		extLinesFrom = len(ext.lines)
		ext.mu.Unlock()
	}

	// Liveness: sample the services table every second.
	var killedAt atomic.Int64 // unix nanos, 0 before the kill
	hostNames := make([]string, 0, n+1)
	for _, s := range services {
		hostNames = append(hostNames, s.Host())
	}
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		sampleLiveness(ctx, store, hostNames, ext != nil, &killedAt, downTime, to, row)
	}()

	// The kill, and the time until the killed host shows down.
	var killDone sync.WaitGroup
	if ext != nil {
		row.killAt, row.killDuringRun = pickKillTime(cfg, specs, from, to)
		killDone.Add(1)
		go func() {
			defer killDone.Done()
			watchKill(ctx, store, ext, downTime, &killedAt, row)
		}()
	}

	progress("%d hosts: measuring for %s (until %s)", n, cfg.window, to.Format("15:04:05"))
	tick := time.NewTicker(30 * time.Second)
measure:
	for {
		select {
		case <-tick.C:
			notUp, age := liveSoFar(row)
			progress("  %s of %s; server CPU %.2f cores so far; live hosts shown down or unknown at most %d at one sample, last_seen_up at most %.1f s old",
				time.Since(from).Round(time.Second), cfg.window,
				float64(procCPU(serverPid)-cpuFrom)/float64(time.Since(from)), notUp, age)
		case <-time.After(time.Until(to)):
			break measure
		case <-ctx.Done():
			tick.Stop()
			return ctx.Err()
		}
	}
	tick.Stop()
	win := time.Since(from).Seconds()
	row.window = time.Since(from).Round(time.Second)
	row.serverCPU = (procCPU(serverPid) - cpuFrom).Seconds() / win
	row.simCPU = (procCPU(selfPid) - selfFrom).Seconds() / win
	row.pgCPU = (procTreeCPU(pgPid) - pgFrom).Seconds() / win
	if busyTo, totalTo := machineCPU(); totalTo > totalFrom {
		row.machineBusy = float64(busyTo-busyFrom) / float64(totalTo-totalFrom)
	}
	row.actions = (srv.counter("action", `namespace="default"`) - actionsFrom) / win
	row.serverRSS, row.simRSS = procRSS(serverPid), procRSS(selfPid)
	row.goroutines = runtime.NumGoroutine()
	row.load = loadAvg()
	row.logs = logs.since(logsFrom, 15)
	diagTo := srv.samples(diag...)
	opsTo := requestsByOperation(srv)
	for op, v := range opsTo {
		if d := v - opsFrom[op]; d > 0 {
			row.ops = append(row.ops, opRate{op, d / win})
		}
	}
	sort.Slice(row.ops, func(i, j int) bool { return row.ops[i].rate > row.ops[j].rate })
	for k, v := range diagTo {
		if d := v - diagFrom[k]; d > 0 && !strings.Contains(k, "_bucket") && !strings.Contains(k, "_sum") {
			row.counters = append(row.counters, fmt.Sprintf("%10.0f  %s", d, k))
		}
	}
	sort.Strings(row.counters)
	samplerDone.Wait()
	if ext != nil {
		progress("%d hosts: waiting for %s, SIGKILLed at %s, to show down", n, killedHost, row.killAt.Format("15:04:05"))
		killDone.Wait()
		ext.mu.Lock()
		for _, l := range ext.lines[extLinesFrom:] {
			if strings.Contains(l.text, "level=WARN") || strings.Contains(l.text, "level=ERROR") {
				row.extLogs = append(row.extLogs, l.text)
			}
		}
		ext.mu.Unlock()
	}

	var killed time.Time
	if k := killedAt.Load(); k != 0 {
		killed = time.Unix(0, k)
	}
	return judgeRuns(ctx, cfg, watch, specs, from, to, row, killed)
}

// startScaleHosts creates and starts n compute services sharing tc and
// pool: the first alone, then cfg.startPar at a time, with progress.
func startScaleHosts(ctx context.Context, cfg scaleConfig, base worker.Config, n int, tc client.Client, pool *pgxpool.Pool, logger *slog.Logger) ([]*worker.Service, time.Duration, error) {
	services := make([]*worker.Service, n)
	var next, started atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	t0 := time.Now()
	stopProgress := make(chan struct{})
	defer close(stopProgress)
	go func() {
		for {
			select {
			case <-stopProgress:
				return
			case <-time.After(10 * time.Second):
				s := started.Load()
				progress("  started %d of %d hosts (%.1f hosts/s)", s, n, float64(s)/time.Since(t0).Seconds())
			}
		}
	}()
	startOne := func(i int) error {
		cfgi := base
		cfgi.Host = fmt.Sprintf("sim-%04d", i+1)
		s := cfg.settings
		var svc *worker.Service
		var err error
		for try := 0; try < 3; try++ { // a busy dev server fails a call now and then
			svc, err = worker.Create(cfgi, worker.Options{Topic: computemgr.Topic, Temporal: tc, DB: pool, Logger: logger, ManagerConfig: &s})
			if err == nil {
				if err = svc.Start(ctx); err == nil {
					break
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			return fmt.Errorf("start host %s: %w", cfgi.Host, err)
		}
		services[i] = svc
		started.Add(1)
		return nil
	}
	if err := startOne(0); err != nil {
		return nil, 0, err
	}
	next.Store(1)
	var wg sync.WaitGroup
	for range cfg.startPar {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				errMu.Lock()
				failed := firstErr != nil
				errMu.Unlock()
				if failed {
					return
				}
				if err := startOne(i); err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	live := slices.DeleteFunc(services, func(s *worker.Service) bool { return s == nil })
	return live, time.Since(t0), firstErr
}

// stopScaleHosts stops the services, many at once.
func stopScaleHosts(services []*worker.Service) {
	if len(services) == 0 {
		return
	}
	progress("stopping %d hosts", len(services))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.Stop(ctx)
		}()
	}
	wg.Wait()
}

// liveSoFar is what the sampler has seen so far.
func liveSoFar(r *scaleRow) (int, float64) {
	livenessMu.Lock()
	defer livenessMu.Unlock()
	return r.notUpMax, r.maxAge.Seconds()
}

// livenessMu guards the liveness fields of a scaleRow while its sampler
// runs.
var livenessMu sync.Mutex

// sampleLiveness reads the topic's services every second until to: every
// live host (the simulated ones, and the killed one until its kill) must be
// up.
func sampleLiveness(ctx context.Context, store *servicegroup.Store, hosts []string, withKilled bool, killedAt *atomic.Int64, downTime time.Duration, to time.Time, row *scaleRow) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-t.C:
			if !at.Before(to) {
				return
			}
			recs, now, err := store.List(ctx, servicegroup.Filter{Topic: computemgr.Topic})
			killed := killedAt.Load() != 0
			livenessMu.Lock()
			row.samples++
			if err != nil {
				row.sampleErrors++
				livenessMu.Unlock()
				continue
			}
			byHost := make(map[string]servicegroup.Record, len(recs))
			for _, r := range recs {
				byHost[r.Host] = r
				if o := r.Observer; o != nil && (len(row.observed) == 0 || o.ObservedAt.After(row.observed[len(row.observed)-1])) {
					row.observed = append(row.observed, o.ObservedAt)
				}
			}
			row.lastSample = now
			live := hosts
			if withKilled && !killed {
				live = append(slices.Clip(hosts), killedHost)
			}
			notUp := 0
			for _, h := range live {
				r, ok := byHost[h]
				if !ok {
					row.missingSeen++
					notUp++
					if row.firstNotUp == "" {
						row.firstNotUp = fmt.Sprintf("%s: no row at %s", h, at.Format("15:04:05"))
					}
					continue
				}
				last := r.CreatedAt
				if r.LastSeenUp != nil {
					last = *r.LastSeenUp
				}
				row.maxAge = max(row.maxAge, now.Sub(last))
				switch st := servicegroup.Status(r, now, downTime); st {
				case servicegroup.Up:
					continue
				case servicegroup.Down:
					row.downSeen++
					notUp++
					if row.firstNotUp == "" {
						row.firstNotUp = fmt.Sprintf("%s %s at %s (last_seen_up %.1f s old)", h, st, at.Format("15:04:05"), now.Sub(last).Seconds())
					}
				default:
					row.unknownSeen++
					notUp++
					if row.firstNotUp == "" {
						obs := "no report yet"
						if r.Observer != nil {
							obs = fmt.Sprintf("last report %.1f s before", now.Sub(r.Observer.ObservedAt).Seconds())
						}
						row.firstNotUp = fmt.Sprintf("%s %s at %s (last_seen_up %.1f s old, %s)", h, st, at.Format("15:04:05"), now.Sub(last).Seconds(), obs)
					}
				}
			}
			if notUp > 0 {
				row.notUpSamples++
			}
			row.notUpMax = max(row.notUpMax, notUp)
			livenessMu.Unlock()
		}
	}
}

// pickKillTime is when to SIGKILL killedHost: the first second from the
// middle of the window on when the host holds no part of a periodic run.
// Its part of a run starts when the run does and ends after its fixed place
// in the run's spread and the task; a host killed inside it holds that run
// open until the task's timeout (workflows.PeriodicTaskTimeout, an hour), so
// that the run has no result in time to be measured. during is set when no
// such second was found before the end of the window (the kill is then at
// its middle).
func pickKillTime(cfg scaleConfig, specs map[string]runSpec, from, to time.Time) (at time.Time, during bool) {
	mid := from.Add(to.Sub(from) / 2).Truncate(time.Second)
	busy := func(t time.Time) bool {
		for _, task := range periodicTasks {
			sp, ok := specs[worker.PeriodicScheduleID(computemgr.Topic, task)]
			if !ok {
				continue
			}
			part := activities.Phase(killedHost+"/"+task, cfg.spread(sp.every))
			// The last nominal time at or before t + 3 s.
			ns := nominalTimes(sp.every, sp.offset, t.Add(3*time.Second-sp.every), t.Add(3*time.Second+time.Nanosecond))
			for _, nt := range ns {
				if !t.Before(nt.Add(-2*time.Second)) && t.Before(nt.Add(part+4*time.Second)) {
					return true
				}
			}
		}
		return false
	}
	for t := mid; t.Before(to.Add(-time.Second)); t = t.Add(time.Second) {
		if !busy(t) {
			return t, false
		}
	}
	return mid, true
}

// watchKill SIGKILLs killedHost at row.killAt and measures the time until
// its row shows down.
func watchKill(ctx context.Context, store *servicegroup.Store, ext *service, downTime time.Duration, killedAt *atomic.Int64, row *scaleRow) {
	select {
	case <-time.After(time.Until(row.killAt)):
	case <-ctx.Done():
		return
	}
	if recs, now, err := store.List(ctx, servicegroup.Filter{Host: killedHost}); err == nil && len(recs) == 1 && recs[0].LastSeenUp != nil {
		row.killLastSeen = now.Sub(*recs[0].LastSeenUp)
	}
	t0 := time.Now()
	killedAt.Store(t0.UnixNano())
	ext.kill()
	progress("  SIGKILLed %s (its own process)", killedHost)
	for time.Since(t0) < downTime+2*time.Minute && ctx.Err() == nil {
		recs, now, err := store.List(ctx, servicegroup.Filter{Host: killedHost})
		if err == nil && len(recs) == 1 {
			switch servicegroup.Status(recs[0], now, downTime) {
			case servicegroup.Down:
				row.killDown = time.Since(t0)
				progress("  %s down %.1f s after its SIGKILL", killedHost, row.killDown.Seconds())
				return
			case servicegroup.Unknown:
				row.killUnknown = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runSpec is a schedule's interval.
type runSpec struct {
	task          string // report_state or the periodic task
	every, offset time.Duration
}

// topicSchedules are the compute topic's schedules (report and periodic
// tasks) with their intervals, as the server lists them.
func topicSchedules(ctx context.Context, c client.Client, cfg scaleConfig) (map[string]runSpec, error) {
	want := map[string]string{worker.ReportScheduleID(computemgr.Topic): workflows.ReportStateMethod}
	for _, t := range periodicTasks {
		want[worker.PeriodicScheduleID(computemgr.Topic, t)] = t
	}
	out := map[string]runSpec{}
	var err error
	for try := 0; try < 5; try++ {
		var it client.ScheduleListIterator
		if it, err = c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000}); err == nil {
			for it.HasNext() {
				e, nerr := it.Next()
				if nerr != nil {
					err = nerr
					break
				}
				task, ok := want[e.ID]
				if !ok || e.Spec == nil || len(e.Spec.Intervals) != 1 {
					continue
				}
				out[e.ID] = runSpec{task: task, every: e.Spec.Intervals[0].Every, offset: e.Spec.Intervals[0].Offset}
			}
		}
		if err == nil && len(out) == len(want) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var missing []string
	for id, task := range want {
		if _, ok := out[id]; !ok {
			missing = append(missing, id)
			continue
		}
		if iv := cfg.intervals()[task]; task != workflows.ReportStateMethod && out[id].every != iv {
			return nil, fmt.Errorf("schedule %s runs every %s, want %s", id, out[id].every, iv)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("schedules %s not listed", strings.Join(missing, ", "))
	}
	return out, nil
}

// nominalTimes are the times in [from, to) of an interval schedule (every,
// offset from the Unix epoch, as Temporal's), truncated to the second as the
// runs' workflow IDs have them.
func nominalTimes(every, offset time.Duration, from, to time.Time) []time.Time {
	if every <= 0 {
		return nil
	}
	k := (from.UnixNano() - int64(offset)) / int64(every)
	first := time.Unix(0, k*int64(every)+int64(offset))
	for first.Before(from) {
		first = first.Add(every)
	}
	for !first.Add(-every).Before(from) {
		first = first.Add(-every)
	}
	var out []time.Time
	for t := first; t.Before(to); t = t.Add(every) {
		out = append(out, t.UTC().Truncate(time.Second))
	}
	return out
}

// scheduledRun parses the workflow ID of a run the schedule id started:
// <id>-<nominal time, RFC 3339, to the second>.
func scheduledRun(wid, id string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(wid, id+"-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, rest)
	return t, err == nil
}

// listRuns lists the compute runs started from a little before from until
// a little after to.
func listRuns(ctx context.Context, c client.Client, from, to time.Time) ([]*workflowpb.WorkflowExecutionInfo, error) {
	q := fmt.Sprintf("NovaflowTopic = 'compute' AND StartTime >= '%s' AND StartTime < '%s'",
		from.Add(-30*time.Minute).UTC().Format(time.RFC3339Nano), to.Add(30*time.Minute).UTC().Format(time.RFC3339Nano))
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

// judgeRuns waits until every run due in [from, to) has closed (or is late
// anyway), then tallies the reports and the periodic host-runs into row.
func judgeRuns(ctx context.Context, cfg scaleConfig, c client.Client, specs map[string]runSpec, from, to time.Time, row *scaleRow, killedAt time.Time) error {
	type key struct {
		id      string
		nominal time.Time
	}
	var byKey map[key]*workflowpb.WorkflowExecutionInfo
	var runs []*workflowpb.WorkflowExecutionInfo
	giveUp := time.Now().Add(cfg.judgeMax)
	for {
		var err error
		if runs, err = listRuns(ctx, c, from, to); err != nil {
			return err
		}
		byKey = map[key]*workflowpb.WorkflowExecutionInfo{}
		for _, r := range runs {
			for id := range specs {
				if t, ok := scheduledRun(r.GetExecution().GetWorkflowId(), id); ok {
					byKey[key{id, t}] = r
				}
			}
		}
		// Runs that may still close on time.
		pending, pendingUntil := 0, time.Time{}
		for id, sp := range specs {
			if sp.task == workflows.ReportStateMethod {
				continue // judged from the services table
			}
			for _, t := range nominalTimes(sp.every, sp.offset, from, to) {
				r := byKey[key{id, t}]
				if (r == nil || r.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING) && time.Now().Before(t.Add(sp.every)) {
					pending++
					if end := t.Add(sp.every); end.After(pendingUntil) {
						pendingUntil = end
					}
				}
			}
		}
		if pending == 0 || time.Now().After(giveUp) {
			break
		}
		progress("  %d runs of the window not closed yet (the last may close on time until %s); waiting", pending, pendingUntil.Format("15:04:05"))
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	judgeReports(cfg, row, from)
	for _, r := range runs {
		if _, ok := scheduledRun(r.GetExecution().GetWorkflowId(), worker.ReportScheduleID(computemgr.Topic)); !ok {
			continue
		}
		if !r.GetStartTime().AsTime().Before(to) || (r.GetCloseTime() != nil && r.GetCloseTime().AsTime().Before(from)) {
			continue
		}
		row.reportRuns++
		switch r.GetStatus() {
		case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			// The run's result counts its reports (a run of the design that
			// reports once per run has no such count).
			var res struct {
				Reports int `json:"reports"`
				Failed  int `json:"failed"`
			}
			gctx, cancel := context.WithTimeout(ctx, time.Minute)
			if err := c.GetWorkflow(gctx, r.GetExecution().GetWorkflowId(), r.GetExecution().GetRunId()).Get(gctx, &res); err == nil {
				row.reportFailedInRuns += res.Failed
			}
			cancel()
		default:
			row.reportRunsFailed++
		}
	}
	for id, sp := range specs {
		if sp.task == workflows.ReportStateMethod {
			row.reportEvery = sp.every
			continue
		}
		st := &taskStat{every: sp.every, spread: cfg.spread(sp.every)}
		row.tasks[sp.task] = st
		for _, t := range nominalTimes(sp.every, sp.offset, from, to) {
			expected := row.hosts
			if cfg.kill && (killedAt.IsZero() || t.Before(killedAt)) {
				expected++ // the killed host, alive at the run's nominal time
			}
			st.dueRuns++
			st.dueHostRuns += expected
			r := byKey[key{id, t}]
			switch {
			case r == nil:
				st.missing++
				st.lateHostRuns += expected
				continue
			case r.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
				st.runs++
				st.open++
				st.lateHostRuns += expected
				continue
			case r.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				st.runs++
				st.failed++
				st.lateHostRuns += expected
				continue
			}
			st.runs++
			d := r.GetCloseTime().AsTime().Sub(t)
			st.delays.add(d)
			if d > sp.every {
				st.closedLate++
				st.lateHostRuns += expected
				continue
			}
			var res workflows.PeriodicRunResult
			gctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := c.GetWorkflow(gctx, r.GetExecution().GetWorkflowId(), r.GetExecution().GetRunId()).Get(gctx, &res)
			cancel()
			if err != nil {
				return fmt.Errorf("result of %s: %w", r.GetExecution().GetWorkflowId(), err)
			}
			inRun := res.Hosts
			unreachable := res.Unreachable
			if slices.Contains(res.UnreachableHosts, killedHost) && !killedAt.IsZero() && !t.Before(killedAt) {
				// Killed before the run: it was still up when the run listed
				// its hosts, and is not due.
				inRun--
				unreachable--
			}
			st.unreachable += unreachable
			st.hostFailed += res.Failed
			st.skipped += res.Skipped
			st.notInRun += max(expected-inRun, 0)
			st.lateHostRuns += max(expected-res.Ran, 0)
		}
	}
	return nil
}

// judgeReports tallies the reports the samples saw: due, made, and late by
// more than one interval (or missing).
func judgeReports(cfg scaleConfig, row *scaleRow, from time.Time) {
	livenessMu.Lock()
	defer livenessMu.Unlock()
	every := cfg.report
	row.reportDue = int(row.window / every)
	var maxGap time.Duration
	late := func(gap time.Duration, end time.Time) int {
		row.reportGaps.add(gap)
		if gap > maxGap {
			maxGap, row.reportMaxGapAt = gap, end
		}
		return max(0, int((gap+every-1)/every)-2)
	}
	for i := 1; i < len(row.observed); i++ {
		row.reportLate += late(row.observed[i].Sub(row.observed[i-1]), row.observed[i])
	}
	if n := len(row.observed); n > 0 && !row.lastSample.IsZero() {
		// The time since the last report, at the last sample.
		if tail := row.lastSample.Sub(row.observed[n-1]); tail > 2*every {
			row.reportLate += late(tail, row.lastSample)
		}
	}
	row.reportsSeen = 0
	for _, t := range row.observed {
		if !t.Before(from) {
			row.reportsSeen++
		}
	}
	if row.reportsSeen == 0 {
		row.reportLate = max(row.reportLate, row.reportDue)
	}
}

func printScaleDetails(out io.Writer, cfg scaleConfig, r *scaleRow) {
	fmt.Fprintf(out, "## Scale: %d simulated compute hosts in one process\n\n", r.hosts)
	fmt.Fprintf(out, "- date: %s, load average (1 min) at the end of the window %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), r.load)
	fmt.Fprintf(out, "- start-up: %d hosts in %s (%.1f hosts/s, %d at once after the first)\n", r.hosts, r.startup.Round(100*time.Millisecond), float64(r.hosts)/r.startup.Seconds(), cfg.startPar)
	fmt.Fprintf(out, "- window: %s after %s of warm-up\n\n", r.window, cfg.warmup)

	fmt.Fprintf(out, "Liveness: %d samples of the services table (one a second, %d failed): live hosts shown down or unknown: at most **%d** at one sample, in %d samples (%d host-samples down, %d unknown, %d without a row); last_seen_up of a live host at most %.1f s old (service_down_time %s).",
		r.samples, r.sampleErrors, r.notUpMax, r.notUpSamples, r.downSeen, r.unknownSeen, r.missingSeen, r.maxAge.Seconds(), cfg.effectiveDownTime())
	if r.firstNotUp != "" {
		fmt.Fprintf(out, " First: %s.", r.firstNotUp)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out)
	if !r.killAt.IsZero() {
		down := "**not down** within service_down_time + 2 min"
		if r.killDown >= 0 {
			down = fmt.Sprintf("down **%.1f s** after it (target <= %s)", r.killDown.Seconds(), scaleKillTarget)
		}
		fmt.Fprintf(out, "SIGKILL of %s (its own process) at %s, %.1f s after its last_seen_up: %s", killedHost, r.killAt.Format("15:04:05"), r.killLastSeen.Seconds(), down)
		if r.killUnknown {
			fmt.Fprint(out, "; shown unknown before down")
		}
		if r.killDuringRun {
			fmt.Fprint(out, "; killed during a part of a periodic run of its (no quiet second found): that run stays open until the task's timeout")
		}
		fmt.Fprintln(out, ".")
		fmt.Fprintln(out)
	}

	gm := r.reportGaps.summary()
	fmt.Fprintf(out, "Status reports (service_observers.observed_at, read by every sample): %d due in the window (one every %s), %d made, **%d** late by more than one interval or missing; time between reports p50 / p99 / max %s / %s / %s s (the longest ending at %s). Runs of schedule %s (every %s) overlapping the window: %d, failed %d; failed reports counted by the closed ones: %d.\n\n",
		r.reportDue, cfg.report, r.reportsSeen, r.reportLate, secs(gm.p50), secs(gm.p99), secs(gm.max), r.reportMaxGapAt.Local().Format("15:04:05"),
		worker.ReportScheduleID(computemgr.Topic), r.reportEvery, r.reportRuns, r.reportRunsFailed, r.reportFailedInRuns)
	fmt.Fprintln(out, "| schedule | every (spread) | runs due | ran | missing | failed | still open | closed > 1 interval after nominal | closed after nominal p50 / p99 / max (s) | host-runs due | late | unreachable / failed / skipped / not in the run |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, task := range periodicTasks {
		st := r.tasks[task]
		if st == nil {
			continue
		}
		m := st.delays.summary()
		fmt.Fprintf(out, "| %s | %s (%s) | %d | %d | %d | %d | %d | %d | %s / %s / %s | %d | %d | %d / %d / %d / %d |\n",
			worker.PeriodicScheduleID(computemgr.Topic, task), st.every, st.spread, st.dueRuns, st.runs, st.missing, st.failed, st.open, st.closedLate,
			secs(m.p50), secs(m.p99), secs(m.max), st.dueHostRuns, st.lateHostRuns, st.unreachable, st.hostFailed, st.skipped, st.notInRun)
	}
	fmt.Fprintln(out)
	due, late := r.periodicDue()
	fmt.Fprintf(out, "Reports late by more than one interval or missing: %d of %d. Periodic tasks: %d late host-runs of %d due (%.2f%%; target <= %g%%). Targets: %s.\n\n",
		r.reportLate, r.reportDue, late, due, r.periodicLatePct(), scaleLateTarget,
		map[bool]string{true: "met", false: "**missed**"}[r.met()])
	fmt.Fprintln(out, "| cost over the window | value |")
	fmt.Fprintln(out, "|---|---|")
	fmt.Fprintf(out, "| Temporal server CPU | %.2f cores |\n", r.serverCPU)
	fmt.Fprintf(out, "| simulation process CPU (%d hosts) | %.2f cores |\n", r.hosts, r.simCPU)
	fmt.Fprintf(out, "| PostgreSQL CPU (all its processes) | %.2f cores |\n", r.pgCPU)
	fmt.Fprintf(out, "| machine busy (all processes) | %.0f%% of %d cores |\n", 100*r.machineBusy, runtime.NumCPU())
	fmt.Fprintf(out, "| server actions/s (namespace default) | %.2f (%.4f per host) |\n", r.actions, r.actions/float64(r.hosts))
	fmt.Fprintf(out, "| server RSS | %d MiB |\n", r.serverRSS>>20)
	fmt.Fprintf(out, "| simulation process RSS | %d MiB (%.2f MiB per host), %d goroutines |\n", r.simRSS>>20, float64(r.simRSS)/float64(r.hosts)/(1<<20), r.goroutines)
	fmt.Fprintln(out)
	if len(r.ops) > 0 {
		fmt.Fprint(out, "Server requests per second over the window, by operation (all its services; the top 10):")
		for i, o := range r.ops[:min(10, len(r.ops))] {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(out, "%s %s %.1f", sep, o.op, o.rate)
		}
		fmt.Fprintln(out, ".")
		fmt.Fprintln(out)
	}
	if len(r.logs) > 0 {
		fmt.Fprintln(out, "Warnings and errors the simulated hosts logged during the window (count, message):")
		fmt.Fprintln(out)
		for _, l := range r.logs {
			fmt.Fprintf(out, "    %s\n", l)
		}
		fmt.Fprintln(out)
	}
	if len(r.extLogs) > 0 {
		fmt.Fprintf(out, "Warnings and errors %s logged during the window (first 10 of %d):\n\n", killedHost, len(r.extLogs))
		for _, l := range r.extLogs[:min(10, len(r.extLogs))] {
			fmt.Fprintf(out, "    %s\n", l)
		}
		fmt.Fprintln(out)
	}
	if len(r.counters) > 0 {
		fmt.Fprintln(out, "Server counters of errors and schedules that grew during the window:")
		fmt.Fprintln(out)
		for _, g := range r.counters {
			fmt.Fprintf(out, "    %s\n", g)
		}
		fmt.Fprintln(out)
	}
}

// printScaleTable prints one row per N.
func printScaleTable(out io.Writer, rows []*scaleRow) {
	fmt.Fprintln(out, "| design | hosts | window | start-up | live hosts shown down/unknown (max at one sample) | max age of last_seen_up (s) | reports late of due | periodic: late host-runs of due | late % (periodic) | late % (all host-runs) | SIGKILL to down (s) | server CPU (cores) | simulation CPU | PostgreSQL CPU | machine busy | actions/s | server RSS | simulation RSS | targets |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.err != "" {
			msg := r.err
			if i := strings.IndexByte(msg, '\n'); i > 0 {
				msg = msg[:i]
			}
			fmt.Fprintf(out, "| %s | %d | %s | failed: %s | | | | | | | | | | | | | | | **missed** |\n", r.design, r.hosts, r.window, msg)
			continue
		}
		if r.design != designTopic {
			fmt.Fprintf(out, "| %s | %d | %s | %s | | | | %d of %d runs | | %.2f | | %.2f | %.2f | | | %.1f | %d MiB | %d MiB | |\n",
				r.design, r.hosts, r.window, r.startup.Round(time.Second), r.beforeLateRuns, r.beforeDueRuns, r.beforeLatePct, r.serverCPU, r.simCPU, r.actions, r.serverRSS>>20, r.simRSS>>20)
			continue
		}
		due, late := r.periodicDue()
		kill := "-"
		switch {
		case r.killAt.IsZero():
		case r.killDown < 0:
			kill = "not down"
		default:
			kill = fmt.Sprintf("%.1f", r.killDown.Seconds())
		}
		fmt.Fprintf(out, "| %s | %d | %s | %s | %d | %.1f | %d of %d | %d of %d | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.0f%% | %.1f | %d MiB | %d MiB | %s |\n",
			r.design, r.hosts, r.window, r.startup.Round(100*time.Millisecond), r.notUpMax, r.maxAge.Seconds(),
			r.reportLate, r.reportDue, late, due, r.periodicLatePct(), r.latePct(), kill,
			r.serverCPU, r.simCPU, r.pgCPU, 100*r.machineBusy, r.actions, r.serverRSS>>20, r.simRSS>>20,
			map[bool]string{true: "met", false: "**missed**"}[r.met()])
	}
	fmt.Fprintln(out)
}

var scaleCSVHeader = []string{"design", "hosts", "window_s", "startup_s", "live_not_up_max", "live_not_up_samples", "samples",
	"max_last_seen_age_s", "report_due", "report_late", "periodic_due_host_runs", "periodic_late_host_runs", "periodic_late_pct",
	"late_pct", "kill_to_down_s", "server_cpu_cores", "sim_cpu_cores", "postgres_cpu_cores", "machine_busy_pct", "machine_cores",
	"actions_per_s", "server_rss_mib", "sim_rss_mib", "targets_met", "date", "error"}

// writeScaleCSV writes the rows so far (a sweep that stops halfway keeps
// what it measured).
func writeScaleCSV(path string, rows []*scaleRow) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(scaleCSVHeader)
	f2 := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, r := range rows {
		rec := []string{r.design, strconv.Itoa(r.hosts), f2(r.window.Seconds()), f2(r.startup.Seconds())}
		switch {
		case r.err != "":
			rec = append(rec, make([]string, len(scaleCSVHeader)-len(rec))...)
			rec[len(rec)-1] = r.err
			rec[len(rec)-2] = time.Now().UTC().Format(time.RFC3339)
			rec[slices.Index(scaleCSVHeader, "machine_cores")] = strconv.Itoa(runtime.NumCPU())
			rec[slices.Index(scaleCSVHeader, "targets_met")] = "false"
		case r.design != designTopic:
			rec = append(rec, "", "", "", "", "", "", "", "", "", f2(r.beforeLatePct), "",
				f2(r.serverCPU), f2(r.simCPU), "", "", strconv.Itoa(runtime.NumCPU()), f2(r.actions),
				strconv.FormatInt(r.serverRSS>>20, 10), strconv.FormatInt(r.simRSS>>20, 10), "", time.Now().UTC().Format(time.RFC3339), "")
		default:
			due, late := r.periodicDue()
			kill := ""
			if !r.killAt.IsZero() && r.killDown >= 0 {
				kill = f2(r.killDown.Seconds())
			}
			rec = append(rec, strconv.Itoa(r.notUpMax), strconv.Itoa(r.notUpSamples), strconv.Itoa(r.samples), f2(r.maxAge.Seconds()),
				strconv.Itoa(r.reportDue), strconv.Itoa(r.reportLate),
				strconv.Itoa(due), strconv.Itoa(late), f2(r.periodicLatePct()), f2(r.latePct()), kill,
				f2(r.serverCPU), f2(r.simCPU), f2(r.pgCPU), f2(100*r.machineBusy), strconv.Itoa(runtime.NumCPU()), f2(r.actions),
				strconv.FormatInt(r.serverRSS>>20, 10), strconv.FormatInt(r.simRSS>>20, 10), strconv.FormatBool(r.met()),
				time.Now().UTC().Format(time.RFC3339), "")
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// drawScalePlot runs the bench/plot module on the CSVs.
func drawScalePlot(ctx context.Context, png string, csvs []string) error {
	dir := ""
	for _, d := range []string{filepath.Join(moduleRoot(), "bench", "plot"), "plot"} {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		return errors.New("bench/plot not found (run from the module's root)")
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	args := []string{"run", ".", "-o", abs(png)}
	for _, c := range csvs {
		args = append(args, abs(c))
	}
	progress("drawing %s (go run in %s)", png, dir)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, io.MultiWriter(os.Stderr, &stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go run ./bench/plot: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// moduleRoot is the main module's root: the working directory of `go run
// ./bench`, or its parent when run from bench (as `go test` does).
func moduleRoot() string {
	if _, err := os.Stat("bench/scale.go"); err == nil {
		return "."
	}
	if _, err := os.Stat("scale.go"); err == nil {
		return ".."
	}
	return "."
}

// runScaleBefore runs the scale command of the per-host design at git
// revision rev, in a worktree, for n hosts, and reads its report.
func runScaleBefore(ctx context.Context, cfg scaleConfig, rev string, n int, window time.Duration) *scaleRow {
	row := &scaleRow{design: "per-host (" + rev + ")", hosts: n, window: window}
	fail := func(err error) *scaleRow {
		row.err = err.Error()
		progress("before, %d hosts: %v", n, err)
		return row
	}
	dir, err := os.MkdirTemp("", "novaflow-bench-scale-before-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	progress("before, %d hosts: git worktree of %s", n, rev)
	add := exec.CommandContext(ctx, "git", "worktree", "add", "--detach", src, rev)
	add.Dir = moduleRoot()
	add.Stdout, add.Stderr = os.Stderr, os.Stderr
	if err := add.Run(); err != nil {
		return fail(fmt.Errorf("git worktree add %s: %w", rev, err))
	}
	defer func() {
		rm := exec.Command("git", "worktree", "remove", "--force", src)
		rm.Dir = moduleRoot()
		rm.Run()
	}()
	args := []string{"run", "./bench", "scale", "-hosts", strconv.Itoa(n), "-window", window.String(),
		"-start-concurrency", strconv.Itoa(cfg.startPar), "-report-interval", cfg.report.String(), "-fuzzy-delay", cfg.fuzzy.String(),
		"-server", cfg.so.profile, "-db", cfg.so.db, "-grpc-compression", cfg.so.compression}
	for _, kv := range cfg.so.dc {
		args = append(args, "-dc", kv)
	}
	for _, kv := range cfg.so.pragmas {
		args = append(args, "-pragma", kv)
	}
	progress("before, %d hosts: go %s (in the worktree of %s)", n, strings.Join(args, " "), rev)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("the scale command of %s: %w", rev, err))
	}
	if err := parseScaleBefore(stdout.String(), row); err != nil {
		return fail(err)
	}
	return row
}

var (
	beforeStartRe   = regexp.MustCompile(`Start-up: \d+ hosts in (\S+) `)
	beforeLateRe    = regexp.MustCompile(`Late or missing: (\d+) of (\d+) runs due \(([\d.]+)%`)
	beforeServerRe  = regexp.MustCompile(`\| server CPU \| ([\d.]+) cores`)
	beforeSimRe     = regexp.MustCompile(`\| simulation process CPU \(\d+ hosts\) \| ([\d.]+) cores`)
	beforeActionsRe = regexp.MustCompile(`\| server actions/s \(namespace default\) \| ([\d.]+)`)
	beforeSrvRSSRe  = regexp.MustCompile(`\| server RSS \| (\d+) MiB`)
	beforeSimRSSRe  = regexp.MustCompile(`\| simulation process RSS \| (\d+) MiB`)
)

// parseScaleBefore reads the report of the per-host design's scale command.
func parseScaleBefore(report string, row *scaleRow) error {
	find := func(re *regexp.Regexp) ([]string, error) {
		m := re.FindStringSubmatch(report)
		if m == nil {
			return nil, fmt.Errorf("the per-host design's report has no match for %q:\n%s", re, report)
		}
		return m, nil
	}
	num := func(re *regexp.Regexp) (float64, error) {
		m, err := find(re)
		if err != nil {
			return 0, err
		}
		return strconv.ParseFloat(m[1], 64)
	}
	m, err := find(beforeLateRe)
	if err != nil {
		return err
	}
	row.beforeLateRuns, _ = strconv.Atoi(m[1])
	row.beforeDueRuns, _ = strconv.Atoi(m[2])
	row.beforeLatePct, _ = strconv.ParseFloat(m[3], 64)
	if m, err := find(beforeStartRe); err == nil {
		row.startup, _ = time.ParseDuration(m[1])
	}
	if row.serverCPU, err = num(beforeServerRe); err != nil {
		return err
	}
	if row.simCPU, err = num(beforeSimRe); err != nil {
		return err
	}
	if row.actions, err = num(beforeActionsRe); err != nil {
		return err
	}
	v, err := num(beforeSrvRSSRe)
	if err != nil {
		return err
	}
	row.serverRSS = int64(v) << 20
	if v, err = num(beforeSimRSSRe); err != nil {
		return err
	}
	row.simRSS = int64(v) << 20
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

// pid is PostgreSQL's postmaster's, 0 when unknown (NOVAFLOW_DATABASE_URL).
func (p *postgres) pid() int {
	if p.dir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(p.dir, "pg", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return pid
}

// procTreeCPU is the CPU time of process pid, of its children that it
// waited for, and of its running children (PostgreSQL's backends).
func procTreeCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	fields := func(p int) []string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return nil
		}
		s := string(b)
		return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	}
	ticks := func(f []string, from, to int) int64 {
		var sum int64
		for i := from; i <= to && i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			sum += v
		}
		return sum
	}
	// fields[1] is ppid, [11..14] utime, stime, cutime, cstime.
	total := ticks(fields(pid), 11, 14)
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(pid)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if f := fields(p); len(f) > 14 && f[1] == want {
			total += ticks(f, 11, 14)
		}
	}
	return time.Duration(total) * time.Second / 100
}

// machineCPU is the machine's busy and total CPU time so far, in ticks
// (/proc/stat).
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	for i, s := range f[1:] {
		if i >= 8 { // guest times are in user and nice already
			break
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}
