package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/worker"
)

// onOff is a same-run comparison of Call latency with a feature off (host
// h1) and on (host h2): one service and one caller per host, each with its
// own client, the scenarios interleaved in blocks so that the machine's
// load hits both alike.
type onOff struct {
	name    string // the command's name: the temp folder's, the flags'
	title   string // the report's heading
	off, on string // what each scenario is
	// setUp prepares the feature in dir (keys, tokens) and returns how a
	// config of h2 is changed: for its service (caller false) and for its
	// caller (caller true).
	setUp func(dir string) (func(cfg *worker.Config, caller bool), error)
}

func (c onOff) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(c.name, flag.ExitOnError)
	var so serverOptions
	so.register(fs)
	n := fs.Int("n", 200, "calls measured per scenario")
	block := fs.Int("block", 20, "calls per scenario per round (scenarios are interleaved)")
	fs.Parse(args)

	srv, pg, stop, err := startServerAndPostgres(ctx, so)
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "novaflow-bench-"+c.name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	turnOn, err := c.setUp(dir)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	defer pool.Close()

	callers := map[string]*rpc.Client{}
	for _, host := range []string{"h1", "h2"} {
		cfg := srv.config(pg.url, host)
		if host == "h2" {
			turnOn(&cfg, false)
		}
		sc, err := worker.Dial(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer sc.Close()
		svc, err := worker.Create(cfg, worker.Options{Topic: benchTopic, Temporal: sc, DB: pool, Logger: logger})
		if err != nil {
			return err
		}
		if err := svc.Start(ctx); err != nil {
			return err
		}
		defer svc.Stop(context.Background())
		if host == "h2" {
			turnOn(&cfg, true)
		}
		cc, err := worker.Dial(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer cc.Close()
		if callers[host], err = rpc.New(rpc.Options{Temporal: cc}); err != nil {
			return err
		}
	}
	call := func(host string) op {
		return func(ctx context.Context, seq int) (time.Duration, error) {
			var res pingResult
			return 0, callers[host].Call(ctx, benchTopic, "ping", pingRequest{Seq: seq}, &res, rpc.ToHost(host))
		}
	}
	scs := []scenario{
		{"call", c.off, "", call("h1")},
		{"call-" + c.name, c.on, "call", call("h2")},
	}
	out := os.Stdout
	header(out, c.title,
		"server: "+so.describe(),
		fmt.Sprintf("latency: %d calls per scenario, one at a time, scenarios interleaved in blocks of %d", *n, *block))
	lat, err := measureLatency(ctx, scs, *n, *block)
	if err != nil {
		return err
	}
	latencyTable(out, scs, lat)
	return nil
}
