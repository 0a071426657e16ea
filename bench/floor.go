package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// floorVariant is one server setting the floor command compares.
type floorVariant struct {
	name, what string
	so         serverOptions
}

var floorVariants = []floorVariant{
	{"cli-defaults", "the CLI's dev server as it comes: SQLite file, default dynamic config, no pragmas",
		serverOptions{profile: profileDefault, db: "file"}},
	{"dev", "`novaflow dev`: SQLite file with TemporalServerArgs (transfer poll rate, one partition, WAL + synchronous=NORMAL)",
		serverOptions{profile: profileDev, db: "file"}},
	{"dev+eager-activities", "dev + system.enableActivityEagerExecution=true",
		serverOptions{profile: profileDev, db: "file", dc: listFlag{"system.enableActivityEagerExecution=true"}}},
	{"dev+sync-off", "dev + SQLite synchronous=OFF",
		serverOptions{profile: profileDev, db: "file", pragmas: listFlag{"synchronous=OFF"}}},
	{"memory", "the tests' server: in memory, TemporalServerArgs",
		serverOptions{profile: profileDev, db: "memory"}},
}

func runFloor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	names := fs.String("variants", "cli-defaults,dev,dev+eager-activities,dev+sync-off,memory", "server variants to compare, all running at once")
	n := fs.Int("n", 200, "calls measured per scenario and variant")
	block := fs.Int("block", 10, "calls per scenario per round")
	inflight := fs.Int("inflight", 16, "calls in flight in the throughput runs")
	dur := fs.Duration("duration", 6*time.Second, "duration of each throughput run (two per variant, interleaved)")
	compression := fs.String("grpc-compression", "none", "gRPC compression of every client, novaflow's and the raw SDK's: none (as novaflow dev) or gzip (the SDK's default)")
	fs.Parse(args)

	var vs []floorVariant
	for _, name := range strings.Split(*names, ",") {
		found := false
		for _, v := range floorVariants {
			if v.name == name {
				vs = append(vs, v)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("-variants: no variant %q", name)
		}
	}
	pg, err := startPostgres(ctx)
	if err != nil {
		return err
	}
	defer pg.stop()
	benches := make([]*rpcBench, len(vs))
	for i, v := range vs {
		v.so.compression = *compression
		b, err := startRPCBench(ctx, v.so, pg)
		if err != nil {
			return fmt.Errorf("variant %s: %w", v.name, err)
		}
		defer b.close()
		benches[i] = b
	}

	out := os.Stdout
	header(out, "Latency floor: the same calls under each server setting",
		fmt.Sprintf("every variant's server runs during the whole measurement; calls are interleaved across variants and scenarios in blocks of %d, %d per cell", *block, *n),
		"PostgreSQL: test mode (no fsync)",
		"clients' gRPC compression: "+*compression)
	fmt.Fprintln(out, "| variant | what |")
	fmt.Fprintln(out, "|---|---|")
	for _, v := range vs {
		fmt.Fprintf(out, "| %s | %s |\n", v.name, v.what)
	}
	fmt.Fprintln(out)

	type cell struct{ variant, scenario string }
	scenarioNames := []string{"raw", "raw-same", "raw-la", "raw-eager-la", "call", "call-local-durable"}
	what := map[string]string{
		"raw":                "raw: workflow on `raw`, activity on `raw.h1`",
		"raw-same":           "raw: workflow and activity on `raw` (eager activity applies)",
		"raw-la":             "raw: workflow + local activity on `raw.h1`",
		"raw-eager-la":       "raw: eager start + local activity (the caller hosts `rawe.h1`)",
		"call":               "novaflow Call(ToHost(h1)) from another process",
		"call-local-durable": "novaflow Call(ToHost(h1), RequestID) from h1's process",
	}
	ops := map[cell]op{}
	for i, v := range vs {
		b := benches[i]
		hq := "raw." + benchHost
		ops[cell{v.name, "raw"}] = rawExec(b.rawCaller, "raw", false, rawCall{Queue: hq})
		ops[cell{v.name, "raw-same"}] = rawExec(b.rawCaller, "raw", false, rawCall{Queue: "raw"})
		ops[cell{v.name, "raw-la"}] = rawExec(b.rawCaller, hq, false, rawCall{Local: true})
		ops[cell{v.name, "raw-eager-la"}] = rawExec(b.rawEager, "rawe."+benchHost, true, rawCall{Local: true})
		ops[cell{v.name, "call"}] = b.call(b.remote)
		ops[cell{v.name, "call-local-durable"}] = b.durableLocal()
	}
	var scs []scenario
	for _, v := range vs {
		for _, sn := range scenarioNames {
			scs = append(scs, scenario{name: v.name + "/" + sn, run: ops[cell{v.name, sn}]})
		}
	}
	lat, err := measureLatency(ctx, scs, *n, *block)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "### Latency p50 / p99 (ms), one call at a time")
	fmt.Fprintln(out)
	fmt.Fprint(out, "| variant |")
	for _, sn := range scenarioNames {
		fmt.Fprintf(out, " %s |", sn)
	}
	fmt.Fprint(out, "\n|---|")
	for range scenarioNames {
		fmt.Fprint(out, "---|")
	}
	fmt.Fprintln(out)
	for _, v := range vs {
		fmt.Fprintf(out, "| %s |", v.name)
		for _, sn := range scenarioNames {
			m := lat[v.name+"/"+sn].summary()
			fmt.Fprintf(out, " %s / %s |", ms(m.p50), ms(m.p99))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out)
	for _, sn := range scenarioNames {
		fmt.Fprintf(out, "- %s: %s\n", sn, what[sn])
	}
	fmt.Fprintln(out)

	// Throughput of Call per variant, with the server's CPU.
	fmt.Fprintf(out, "### Throughput of Call(ToHost(h1)), %d in flight\n\n", *inflight)
	fmt.Fprintln(out, "| variant | calls/s (round 1, round 2) | p50 ms | server CPU (cores) | server CPU ms per call |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	type tp struct {
		rates []float64
		lat   latencies
		cpu   time.Duration
		calls float64
	}
	res := make([]tp, len(vs))
	for round := range 2 {
		for i, v := range vs {
			b := benches[i]
			cpu := procCPU(b.srv.pid())
			start := time.Now()
			r, l, err := throughput(ctx, b.call(b.remote), *inflight, *dur)
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			used := procCPU(b.srv.pid()) - cpu
			res[i].rates = append(res[i].rates, r)
			res[i].cpu += used
			res[i].calls += r * time.Since(start).Seconds()
			for _, d := range l.d {
				res[i].lat.add(d)
			}
			progress("throughput %s round %d: %.1f calls/s, server CPU %.0f%%", v.name, round+1, r, 100*float64(used)/float64(*dur))
		}
	}
	for i, v := range vs {
		r := &res[i]
		fmt.Fprintf(out, "| %s | %.1f, %.1f | %s | %.2f | %.1f |\n", v.name, r.rates[0], r.rates[1], ms(r.lat.summary().p50),
			float64(r.cpu)/float64(2**dur), float64(r.cpu)/float64(time.Millisecond)/r.calls)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "load average (1 min) at end: %s\n\n", loadAvg())
	return nil
}
