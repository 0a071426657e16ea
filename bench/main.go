// Command bench measures novaflow against the raw Temporal SDK on the same
// server in the same run (docs/BENCHMARKS.md):
//
//	go run ./bench rpc        Call and Cast latency and throughput, raw-SDK baselines, the local path
//	go run ./bench floor      the latency floor under each server setting (before/after)
//	go run ./bench scale      N simulated compute hosts: are reports and periodic tasks on time?
//	go run ./bench builds     builds per second end to end against the raw-SDK ceiling
//	go run ./bench liveness   SIGKILL of a service to `down` in the services table and `service list`
//	go run ./bench footprint  RSS of an idle service, time from exec to polling
//	go run ./bench breakdown  where a call's time goes, from its history
//
// Each command starts what it needs (a Temporal dev server and a PostgreSQL
// cluster in a temporary directory, loopback only), prints progress on
// stderr and a Markdown report on stdout, and stops everything it started.
// `go run ./bench <command> -h` lists a command's flags. The RabbitMQ
// comparison is a separate module, bench/amqp, so that the main module does
// not carry its client.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = []command{
	{"rpc", "Call/Cast latency and throughput against the raw SDK; the local path", runRPC},
	{"floor", "latency floor of one call under each server setting (before/after)", runFloor},
	{"scale", "N simulated compute hosts with reports and periodic tasks: on time?", runScale},
	{"housekeeping", "what an idle compute host costs Temporal and PostgreSQL, per design, in one run", runHousekeeping},
	{"builds", "builds per second end to end against the raw-SDK ceiling", runBuilds},
	{"liveness", "time from SIGKILL of a service to down", runLiveness},
	{"footprint", "RSS of an idle service and time from exec to polling", runFootprint},
	{"breakdown", "where a call's time goes, from its history; what each addition costs", runBreakdown},
	{"codec", "Call latency with the payload codec against without it, same run", runCodec},
	{"authz", "Call latency with authorization (NOVAFLOW_AUTH) against without it, same run", runAuthz},
	{"gate", "Call latency with the services' check, and with the server's gate too, against neither; novaflow's Temporal server on PostgreSQL", runGate},
	{"checkcost", "Temporal actions per status report and periodic run, with the run's check behind workflow.GetVersion and without", runCheckCost},
	{"pgbouncer", "PostgreSQL connections of N service processes through PgBouncer (transaction mode) and direct", runPgBouncer},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(ctx, os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
			return
		}
	}
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go run ./bench <command> [flags]")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
}
