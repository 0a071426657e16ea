package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/worker"
)

// runAuthz measures what authorization (NOVAFLOW_AUTH) adds to a call: two
// services of the bench topic in one run, h1 without it and h2 with it
// (its caller presenting a member's token), in interleaved blocks so that
// the machine's load hits both alike.
func runAuthz(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("authz", flag.ExitOnError)
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
	dir, err := os.MkdirTemp("", "novaflow-bench-authz")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, jwks, err := auth.GenerateKey(dir)
	if err != nil {
		return err
	}
	issue := func(sub, project, role string) (string, error) {
		return auth.Issue(key, auth.Claims{Issuer: "bench", Audience: "novaflow", Subject: sub, ProjectID: project, Roles: []string{role}, TTL: time.Hour})
	}
	serviceToken, err := issue("service", "", "service")
	if err != nil {
		return err
	}
	memberToken, err := issue("alice", "a", "member")
	if err != nil {
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
			cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.Token = true, jwks, "bench", serviceToken
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
			cfg.Token = memberToken // the caller's own
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
		{"call", "novaflow `Call(ToHost(h1))` from another process, authorization off", "", call("h1")},
		{"call-authz", "the same to h2: a member's token (EdDSA) verified and the policy decided in the service", "call", call("h2")},
	}
	out := os.Stdout
	header(out, "Authorization: Call latency with and without it",
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
