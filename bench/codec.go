package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/worker"
)

// runCodec measures what the payload codec (NOVAFLOW_PAYLOAD_KEYS_FILE)
// adds to a call: two services of the bench topic in one run, h1 without
// the codec and h2 with it, each called by a caller of its own kind, in
// interleaved blocks so that the machine's load hits both alike.
func runCodec(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("codec", flag.ExitOnError)
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
	dir, err := os.MkdirTemp("", "novaflow-bench-codec")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	ring := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(ring, []byte(`{"current": "k1", "keys": {"k1": "`+base64.StdEncoding.EncodeToString(key)+`"}}`), 0o600); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	defer pool.Close()

	// One service and one caller per host, each with its own client.
	callers := map[string]*rpc.Client{}
	for _, host := range []string{"h1", "h2"} {
		cfg := srv.config(pg.url, host)
		if host == "h2" {
			cfg.PayloadKeysFile = ring
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
		{"call", "novaflow `Call(ToHost(h1))` from another process, no codec", "", call("h1")},
		{"call-codec", "the same to h2, caller and service with the AES-256-GCM codec", "call", call("h2")},
	}
	out := os.Stdout
	header(out, "Payload codec: Call latency with and without it",
		"server: "+so.describe(),
		fmt.Sprintf("latency: %d calls per scenario, one at a time, scenarios interleaved in blocks of %d", *n, *block))
	lat, err := measureLatency(ctx, scs, *n, *block)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "| scenario | what | p50 | p90 | p99 | mean | p50 ratio | p99 ratio | mean ratio |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|")
	for _, s := range scs {
		m := lat[s.name].summary()
		r50, r99, rmean := "", "", ""
		if s.baseline != "" {
			base := lat[s.baseline].summary()
			r50, r99, rmean = ratio(float64(m.p50), float64(base.p50)), ratio(float64(m.p99), float64(base.p99)), ratio(float64(m.mn), float64(base.mn))
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.name, s.what, ms(m.p50), ms(m.p90), ms(m.p99), ms(m.mn), r50, r99, rmean)
	}
	fmt.Fprintln(out)
	return nil
}
