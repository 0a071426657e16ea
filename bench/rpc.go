package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
)

// rpcBench is the set-up of the rpc and floor commands: a novaflow service
// of topic bench on host h1, callers in "other processes" (their own
// clients) and in the service's process, and the raw-SDK equivalent.
type rpcBench struct {
	srv *server
	pg  *postgres

	svc    *worker.Service
	remote *rpc.Client // a caller with its own client and no local service
	local  *rpc.Client // a caller in the service's process (AddLocal)

	callerClient client.Client // the remote caller's client
	rawCaller    client.Client // the raw SDK's caller: no worker
	rawEager     client.Client // a raw caller that runs workers for eager start
	closers      []func()
}

const benchHost = "h1"

// startRPCBench starts a server as so says and the services and workers
// on it; pg is the PostgreSQL to use, nil to start one.
func startRPCBench(ctx context.Context, so serverOptions, pg *postgres) (_ *rpcBench, err error) {
	b := &rpcBench{pg: pg}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.srv, err = startServer(ctx, so); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, b.srv.stop)
	if b.pg == nil {
		if b.pg, err = startPostgres(ctx); err != nil {
			return nil, err
		}
		b.closers = append(b.closers, b.pg.stop)
	}

	cfg := b.srv.config(b.pg.url, benchHost)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	pool, err := db.Open(ctx, b.pg.url)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, pool.Close)

	// The service, with the client every novaflow process dials (telemetry
	// interceptors included).
	sc, err := worker.Dial(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, sc.Close)
	if b.svc, err = worker.Create(cfg, worker.Options{Topic: benchTopic, Temporal: sc, DB: pool, Logger: logger}); err != nil {
		return nil, err
	}
	if err := b.svc.Start(ctx); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { b.svc.Stop(context.Background()) })
	if b.local, err = rpc.New(rpc.Options{Temporal: sc}); err != nil {
		return nil, err
	}
	b.local.AddLocal(benchTopic, benchHost, b.svc.Manager().RPCMethods())

	cc, err := worker.Dial(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, cc.Close)
	b.callerClient = cc
	if b.remote, err = rpc.New(rpc.Options{Temporal: cc}); err != nil {
		return nil, err
	}

	// The raw SDK: a worker process for the host (workflow queue raw,
	// activity queue raw.h1), a caller without workers, and a caller that
	// runs workers of its own (rawe: the workflow; rawe.h1: workflow and
	// activity, for eager start with a local activity).
	rw, err := b.srv.dial(ctx, logger)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, rw.Close)
	for _, q := range []string{"raw", "raw." + benchHost} {
		w := sdkworker.New(rw, q, sdkworker.Options{})
		registerRaw(w)
		if err := w.Start(); err != nil {
			return nil, err
		}
		b.closers = append(b.closers, w.Stop)
	}
	if b.rawCaller, err = b.srv.dial(ctx, logger); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, b.rawCaller.Close)
	if b.rawEager, err = b.srv.dial(ctx, logger); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, b.rawEager.Close)
	for _, q := range []string{"rawe", "rawe." + benchHost} {
		w := sdkworker.New(b.rawEager, q, sdkworker.Options{})
		registerRaw(w)
		if err := w.Start(); err != nil {
			return nil, err
		}
		b.closers = append(b.closers, w.Stop)
	}
	return b, nil
}

func (b *rpcBench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// serviceConfig is the settings of a bench service on host: reports and
// periodic tasks off (the rpc benchmark measures calls only), unversioned.
func serviceConfig(temporalAddr, dbURL, host string) worker.Config {
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.TemporalAddress, cfg.DatabaseURL = host, temporalAddr, dbURL
	cfg.ReportInterval, cfg.PeriodicEnable = 0, false
	cfg.GracefulShutdownTimeout, cfg.LogLevel, cfg.Versioning = 5*time.Second, "error", worker.VersioningOff
	return cfg
}

// op is one measured operation; seq numbers the request. It returns the
// time to count: its own when it waits for something it does not measure
// (a cast waits for its execution to finish, so that the next cast is not
// measured against the previous one's run), else 0 for all of it.
type op func(ctx context.Context, seq int) (time.Duration, error)

// scenario is an operation and the baseline it is compared with.
type scenario struct {
	name, what string
	baseline   string // name of the baseline scenario, "" for none
	run        op
}

// rawExec runs the raw workflow on queue with input and waits for it.
func rawExec(c client.Client, queue string, eager bool, in rawCall) op {
	return func(ctx context.Context, seq int) (time.Duration, error) {
		in.Seq = seq
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "raw/" + uuid.NewString(), TaskQueue: queue, WorkflowExecutionTimeout: time.Minute, EnableEagerStart: eager,
		}, rawCallName, in)
		if err != nil {
			return 0, err
		}
		var res pingResult
		return 0, run.Get(ctx, &res)
	}
}

// rawStart starts the raw workflow (the raw cast) and measures that; then
// it waits for the run to finish.
func rawStart(c client.Client, queue string) op {
	return func(ctx context.Context, seq int) (time.Duration, error) {
		t := time.Now()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "raw/" + uuid.NewString(), TaskQueue: queue, WorkflowExecutionTimeout: time.Hour,
		}, rawCallName, rawCall{Seq: seq, Queue: "raw." + benchHost})
		if err != nil {
			return 0, err
		}
		d := time.Since(t)
		return d, run.Get(ctx, nil)
	}
}

func (b *rpcBench) call(c *rpc.Client, opts ...rpc.CallOption) op {
	return func(ctx context.Context, seq int) (time.Duration, error) {
		var res pingResult
		return 0, c.Call(ctx, benchTopic, "ping", pingRequest{Seq: seq}, &res, append([]rpc.CallOption{rpc.ToHost(benchHost)}, opts...)...)
	}
}

// callBefore starts a call as rpc.Client did before calls to a host ran on
// the host's queue: the execution on the topic's queue (the method then runs
// as an activity on the host's queue), with the client's options and search
// attributes. It is what `temporal workflow execute --task-queue bench`
// does, so the same service code serves it.
func (b *rpcBench) callBefore() op {
	return func(ctx context.Context, seq int) (time.Duration, error) {
		run, err := b.callerClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       rpc.WorkflowID(benchTopic, "ping", benchHost, uuid.NewString()),
			TaskQueue:                benchTopic,
			WorkflowExecutionTimeout: time.Minute,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.TopicKey.ValueSet(benchTopic),
				workflows.HostKey.ValueSet(benchHost), workflows.MethodKey.ValueSet("ping")),
		}, benchTopic+".ping", json.RawMessage(fmt.Sprintf(`{"host":%q,"seq":%d}`, benchHost, seq)))
		if err != nil {
			return 0, err
		}
		var res pingResult
		return 0, run.Get(ctx, &res)
	}
}

func (b *rpcBench) durableLocal() op {
	return func(ctx context.Context, seq int) (time.Duration, error) {
		var res pingResult
		return 0, b.local.Call(ctx, benchTopic, "ping", pingRequest{Seq: seq}, &res, rpc.ToHost(benchHost), rpc.RequestID(uuid.NewString()))
	}
}

func (b *rpcBench) cast() op {
	return func(ctx context.Context, seq int) (time.Duration, error) {
		t := time.Now()
		exec, err := b.remote.Cast(ctx, benchTopic, "ping", pingRequest{Seq: seq}, rpc.ToHost(benchHost))
		if err != nil {
			return 0, err
		}
		d := time.Since(t)
		return d, b.remote.Result(ctx, exec, nil)
	}
}

// latencyScenarios are the sequential measurements of the rpc command.
func (b *rpcBench) latencyScenarios() []scenario {
	hq := "raw." + benchHost
	return []scenario{
		{"raw", "raw SDK: workflow on `raw` + activity on `raw.h1` (the baseline the targets were set against)", "", rawExec(b.rawCaller, "raw", false, rawCall{Queue: hq})},
		{"call-before", "novaflow call as started before: workflow on `bench`, method as activity on `bench.h1`", "raw", b.callBefore()},
		{"raw-la", "raw SDK: workflow + local activity on `raw.h1`", "", rawExec(b.rawCaller, hq, false, rawCall{Local: true})},
		{"call", "novaflow `Call(ToHost(h1))` from another process: workflow + local activity on `bench.h1`", "raw-la", b.call(b.remote)},
		{"raw-eager", "raw SDK, eager start (caller runs a worker on the workflow queue) + activity on `raw.h1`", "", rawExec(b.rawEager, "rawe", true, rawCall{Queue: hq})},
		{"raw-eager-la", "raw SDK, eager start on `rawe.h1` (caller hosts it) + local activity: the durable floor", "", rawExec(b.rawEager, "rawe."+benchHost, true, rawCall{Local: true})},
		{"call-local-durable", "novaflow `Call(ToHost(h1), RequestID)` from h1's own process (through Temporal)", "raw-eager-la", b.durableLocal()},
		{"call-local", "novaflow `Call(ToHost(h1))` from h1's own process (AddLocal: direct)", "", b.call(b.local)},
		{"raw-start", "raw SDK: start the workflow (measured), then wait for it (not measured)", "", rawStart(b.rawCaller, "raw")},
		{"cast", "novaflow `Cast(ToHost(h1))` (measured: returns once recorded), then `Result` (not measured)", "raw-start", b.cast()},
	}
}

// measureLatency runs the scenarios one call at a time, interleaved in
// rounds of block calls each so that a change of the machine's load hits
// every scenario alike; the first round is a warm-up.
func measureLatency(ctx context.Context, scs []scenario, n, block int) (map[string]*latencies, error) {
	out := map[string]*latencies{}
	for _, s := range scs {
		out[s.name] = &latencies{}
	}
	rounds := (n+block-1)/block + 1
	seq := 0
	for r := 0; r < rounds; r++ {
		for _, s := range scs {
			for range block {
				seq++
				start := time.Now()
				d, err := s.run(ctx, seq)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", s.name, err)
				}
				if d == 0 {
					d = time.Since(start)
				}
				if r > 0 {
					out[s.name].add(d)
				}
			}
		}
		if r > 0 {
			progress("latency: round %d of %d", r, rounds-1)
		}
	}
	return out, nil
}

// throughput runs o with inflight callers for d and returns completed
// operations per second and their latencies.
//
// A failed operation is counted (latencies.failed) and its starter goes on;
// the round is cut throughputGrace after d, and the operations still running
// then (a stalled one: the dev server now and then leaves a task waiting
// for its timeout) count as failed, so that one stall costs the round one
// starter's share rather than its whole length. It fails only when no
// operation succeeded.
func throughput(ctx context.Context, o op, inflight int, d time.Duration) (float64, *latencies, error) {
	var done atomic.Int64
	var seq atomic.Int64
	lat := &latencies{}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, d+throughputGrace)
	defer cancel()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t := time.Now()
				if _, err := o(ctx, int(seq.Add(1))); err != nil {
					lat.fail(err)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				lat.add(time.Since(t))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return 0, nil, err
	}
	if done.Load() == 0 {
		return 0, nil, fmt.Errorf("every operation failed; the first: %w", lat.first)
	}
	if lat.failed > 0 {
		progress("%d operations failed or stalled past the round; the first: %v", lat.failed, lat.first)
	}
	return float64(done.Load()) / time.Since(start).Seconds(), lat, nil
}

// throughputGrace is how long a throughput round waits, after its
// duration, for the operations still running.
const throughputGrace = 5 * time.Second

// castBurst starts total executions with inflight starters, then waits for
// all of them: starts per second, and completions per second from the first
// start to the last completion.
func castBurst(ctx context.Context, start func(ctx context.Context, seq int) (func(context.Context) error, error), total, inflight int) (startRate, doneRate float64, err error) {
	// each runs f for 0..total-1, inflight at a time; the first error
	// cancels the rest.
	each := func(f func(ctx context.Context, i int) error) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(inflight)
		for i := range total {
			g.Go(func() error { return f(ctx, i) })
		}
		return g.Wait()
	}
	waits := make([]func(context.Context) error, total)
	t0 := time.Now()
	if err := each(func(ctx context.Context, i int) (err error) {
		waits[i], err = start(ctx, i)
		return err
	}); err != nil {
		return 0, 0, err
	}
	started := time.Since(t0)
	if err := each(func(ctx context.Context, i int) error { return waits[i](ctx) }); err != nil {
		return 0, 0, err
	}
	return float64(total) / started.Seconds(), float64(total) / time.Since(t0).Seconds(), nil
}

func runRPC(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rpc", flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	n := fs.Int("n", 400, "calls measured per latency scenario")
	block := fs.Int("block", 20, "calls per scenario per round (scenarios are interleaved)")
	inflight := fs.Int("inflight", 16, "calls in flight in the throughput runs")
	dur := fs.Duration("duration", 10*time.Second, "duration of each throughput run (each runs twice, interleaved)")
	casts := fs.Int("casts", 2000, "executions per cast burst")
	fs.Parse(args)

	b, err := startRPCBench(ctx, so, nil)
	if err != nil {
		return err
	}
	defer b.close()
	out := os.Stdout
	header(out, "RPC overhead: novaflow against the raw SDK",
		"server: "+so.describe(),
		"PostgreSQL: test mode (no fsync); the bench method does no database work",
		fmt.Sprintf("latency: %d calls per scenario, one at a time, scenarios interleaved in blocks of %d", *n, *block),
		fmt.Sprintf("throughput: %d in flight, 2 x %s per scenario, interleaved", *inflight, *dur))

	scs := b.latencyScenarios()
	cpu0 := procCPU(b.srv.pid())
	lat, err := measureLatency(ctx, scs, *n, *block)
	if err != nil {
		return err
	}
	progress("latency done (server CPU %s)", procCPU(b.srv.pid())-cpu0)
	fmt.Fprintln(out, "### Latency, one call at a time (ms)")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| scenario | what | p50 | p90 | p99 | mean | p50 ratio | p99 ratio |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, s := range scs {
		m := lat[s.name].summary()
		r50, r99 := "", ""
		if s.baseline != "" {
			base := lat[s.baseline].summary()
			r50 = ratio(float64(m.p50), float64(base.p50)) + " vs " + s.baseline
			r99 = ratio(float64(m.p99), float64(base.p99))
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name, s.what, ms(m.p50), ms(m.p90), ms(m.p99), ms(m.mn), r50, r99)
	}
	fmt.Fprintln(out)
	call, raw, rawLA := lat["call"].summary(), lat["raw"].summary(), lat["raw-la"].summary()
	durable, direct := lat["call-local-durable"].summary(), lat["call-local"].summary()
	fmt.Fprintln(out, "| target | measured | met |")
	fmt.Fprintln(out, "|---|---|---|")
	target := func(name, got string, ok bool) {
		fmt.Fprintf(out, "| %s | %s | %v |\n", name, got, map[bool]string{true: "yes", false: "**no**"}[ok])
	}
	target("host-targeted Call p50 <= 12 ms", ms(call.p50)+" ms", call.p50 <= 12*time.Millisecond)
	target("host-targeted Call p99 <= 30 ms", ms(call.p99)+" ms", call.p99 <= 30*time.Millisecond)
	target("Call / raw baseline (wf + activity on host queue), p50 <= 1.10", ratio(float64(call.p50), float64(raw.p50)), float64(call.p50) <= 1.1*float64(raw.p50))
	target("Call / raw of the same shape (wf + local activity), p50 <= 1.10", ratio(float64(call.p50), float64(rawLA.p50)), float64(call.p50) <= 1.1*float64(rawLA.p50))
	target("same-host call p50 <= 5 ms (durable, through Temporal)", ms(durable.p50)+" ms", durable.p50 <= 5*time.Millisecond)
	target("same-host call p50 <= 5 ms (AddLocal, direct)", ms(direct.p50)+" ms", direct.p50 <= 5*time.Millisecond)
	fmt.Fprintln(out)

	// Throughput: raw and novaflow, twice each, interleaved.
	tps := []struct {
		name string
		o    op
	}{
		{"raw", rawExec(b.rawCaller, "raw", false, rawCall{Queue: "raw." + benchHost})},
		{"raw-la", rawExec(b.rawCaller, "raw."+benchHost, false, rawCall{Local: true})},
		{"call", b.call(b.remote)},
	}
	rates := map[string][]float64{}
	tlat := map[string]*latencies{}
	for round := range 2 {
		for _, t := range tps {
			cpu := procCPU(b.srv.pid())
			r, l, err := throughput(ctx, t.o, *inflight, *dur)
			if err != nil {
				return fmt.Errorf("throughput %s: %w", t.name, err)
			}
			progress("throughput %s round %d: %.1f calls/s (server CPU %.0f%%)", t.name, round+1, r,
				100*float64(procCPU(b.srv.pid())-cpu)/float64(*dur))
			rates[t.name] = append(rates[t.name], r)
			if tlat[t.name] == nil {
				tlat[t.name] = &latencies{}
			}
			for _, d := range l.d {
				tlat[t.name].add(d)
			}
			for range l.failed {
				tlat[t.name].fail(l.first)
			}
		}
	}
	avg := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	fmt.Fprintf(out, "### Throughput, %d calls in flight\n\n", *inflight)
	fmt.Fprintln(out, "| scenario | calls/s (round 1, round 2) | mean | p50 ms | p99 ms | failed or stalled | ratio to raw | ratio to raw-la |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, t := range tps {
		m := tlat[t.name].summary()
		fmt.Fprintf(out, "| %s | %.1f, %.1f | %.1f | %s | %s | %d | %s | %s |\n", t.name, rates[t.name][0], rates[t.name][1], avg(rates[t.name]),
			ms(m.p50), ms(m.p99), tlat[t.name].failed, ratio(avg(rates[t.name]), avg(rates["raw"])), ratio(avg(rates[t.name]), avg(rates["raw-la"])))
	}
	fmt.Fprintln(out)
	for _, t := range tps {
		if l := tlat[t.name]; l.failed > 0 {
			fmt.Fprintf(out, "%s: the first failure: %v\n\n", t.name, l.first)
		}
	}

	// Casts: a burst of executions, started by inflight starters, then
	// awaited.
	rawBurst := func(ctx context.Context, seq int) (func(context.Context) error, error) {
		run, err := b.rawCaller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "raw/" + uuid.NewString(), TaskQueue: "raw", WorkflowExecutionTimeout: time.Hour,
		}, rawCallName, rawCall{Seq: seq, Queue: "raw." + benchHost})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return run.Get(ctx, nil) }, nil
	}
	// The raw start with the search attributes a cast sets (topic, host,
	// method), to tell their cost from the rest of novaflow's.
	rawSABurst := func(ctx context.Context, seq int) (func(context.Context) error, error) {
		run, err := b.rawCaller.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "raw/" + uuid.NewString(), TaskQueue: "raw", WorkflowExecutionTimeout: time.Hour,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.TopicKey.ValueSet("raw"), workflows.HostKey.ValueSet(benchHost), workflows.MethodKey.ValueSet("ping")),
		}, rawCallName, rawCall{Seq: seq, Queue: "raw." + benchHost})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return run.Get(ctx, nil) }, nil
	}
	nfBurst := func(ctx context.Context, seq int) (func(context.Context) error, error) {
		exec, err := b.remote.Cast(ctx, benchTopic, "ping", pingRequest{Seq: seq}, rpc.ToHost(benchHost))
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return b.remote.Result(ctx, exec, nil) }, nil
	}
	fmt.Fprintf(out, "### Casts: a burst of %d, %d starters, then every result awaited\n\n", *casts, *inflight)
	fmt.Fprintln(out, "| scenario | started/s (2 bursts) | completed/s, first start to last result (2 bursts) | ratio to raw (completed, mean) |")
	fmt.Fprintln(out, "|---|---|---|---|")
	// Raw, novaflow, raw with search attributes, the same backwards: each
	// burst leaves timers behind (the
	// activities' timeouts) that fire during the next one.
	type burst struct {
		name  string
		start func(context.Context, int) (func(context.Context) error, error)
	}
	rawB, nfB := burst{"raw start + run.Get", rawBurst}, burst{"novaflow Cast + Result", nfBurst}
	rawSAB := burst{"raw start with a cast's search attributes + run.Get", rawSABurst}
	started, completed := map[string][]float64{}, map[string][]float64{}
	for _, t := range []burst{rawB, nfB, rawSAB, rawSAB, nfB, rawB} {
		sr, dr, err := castBurst(ctx, t.start, *casts, *inflight)
		if err != nil {
			return fmt.Errorf("cast burst %s: %w", t.name, err)
		}
		progress("cast burst %s: %.1f started/s, %.1f completed/s", t.name, sr, dr)
		started[t.name] = append(started[t.name], sr)
		completed[t.name] = append(completed[t.name], dr)
	}
	for _, t := range []burst{rawB, rawSAB, nfB} {
		fmt.Fprintf(out, "| %s | %.1f, %.1f | %.1f, %.1f | %s |\n", t.name, started[t.name][0], started[t.name][1],
			completed[t.name][0], completed[t.name][1], ratio(avg(completed[t.name]), avg(completed[rawB.name])))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "load average (1 min) at end: %s\n\n", loadAvg())
	return nil
}
