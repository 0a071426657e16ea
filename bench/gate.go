package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/auth"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/rpc"
	"github.com/novaflow/novaflow/worker"
	"github.com/novaflow/novaflow/workflows"
)

// runGate measures the two places authorization is enforced, in one run on
// one server: novaflow's build of the Temporal server on PostgreSQL with
// its gate on (tools/temporal-server). Three hosts of the bench topic,
// scenarios interleaved in blocks: h1 without authorization (its caller
// sends no bearer: the gate passes it on); h2 with the services' check
// only (the caller's token in the workflow header); h3 with the gate and
// the services' check (the caller's token only as an API key, which the
// gate verifies, decides and writes into the start's header).
func runGate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gate", flag.ExitOnError)
	n := fs.Int("n", 200, "calls measured per scenario")
	block := fs.Int("block", 20, "calls per scenario per round (scenarios are interleaved)")
	compression := fs.String("grpc-compression", "none", "gRPC compression of every client: none (as novaflow dev) or gzip")
	fs.Parse(args)

	dir, err := os.MkdirTemp("", "novaflow-bench-gate")
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
	member, err := issue("alice", "a", "member")
	if err != nil {
		return err
	}
	// The gate decides only methods it knows or the policy names: name the
	// bench's, with the rule its default would be (a mutation without an
	// object).
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf("%q: \"rule:member\"\n", benchTopic+":ping")), 0o644); err != nil {
		return err
	}

	pg, err := startPostgres(ctx)
	if err != nil {
		return err
	}
	defer pg.stop()
	progress("starting novaflow's Temporal server on PostgreSQL, gate on")
	port, err := devstack.FreePort("127.0.0.1")
	if err != nil {
		return err
	}
	tmp, err := devstack.StartTemporalSQL(ctx, devstack.TemporalSQLOptions{
		PostgresURL: pg.url, Dir: filepath.Join(dir, "temporal"), HostPort: fmt.Sprintf("127.0.0.1:%d", port),
		DatabasePrefix: fmt.Sprintf("benchgate_%d", time.Now().UnixNano()%1_000_000_000), LogLevel: "error",
		SearchAttributes: workflows.SearchAttributes(), Progress: os.Stderr, Stderr: os.Stderr,
		Env: []string{"NOVAFLOW_AUTH=true", "NOVAFLOW_AUTH_JWKS=" + jwks, "NOVAFLOW_AUTH_ISSUER=bench", "NOVAFLOW_AUTH_POLICY_FILE=" + policyFile},
	})
	if err != nil {
		return err
	}
	defer tmp.Stop()
	srv := &server{addr: tmp.Address(), compression: *compression}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	pool, err := db.Open(ctx, pg.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	callers := map[string]*rpc.Client{}
	for _, host := range []string{"h1", "h2", "h3"} {
		cfg := srv.config(pg.url, host)
		if host != "h1" {
			cfg.Auth, cfg.AuthJWKS, cfg.AuthIssuer, cfg.AuthPolicyFile, cfg.Token = true, jwks, "bench", policyFile, serviceToken
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
		// The callers' clients alike but for the token: none (h1), in
		// the workflow header (h2), as an API key only (h3).
		opts := client.Options{HostPort: srv.addr, Namespace: "default", Logger: sdklog.NewStructuredLogger(logger),
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: grpcCompression(*compression), TLSDisabled: true}}
		switch host {
		case "h2":
			opts.ContextPropagators = []workflow.ContextPropagator{auth.Propagator{Default: func() string { return member }}}
		case "h3":
			opts.Credentials = client.NewAPIKeyStaticCredentials(member)
		}
		cc, err := client.DialContext(ctx, opts)
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
		{"call", "h1: no authorization (no bearer; the gate passes the call on)", "", call("h1")},
		{"call-worker", "h2: the services' check only: the member's token in the workflow header", "call", call("h2")},
		{"call-gate", "h3: gate + the services' check: the member's token as API key only, verified, decided and stamped into the header by the gate", "call", call("h3")},
	}
	out := os.Stdout
	header(out, "Where authorization is enforced: the server's gate and the services' check, same run",
		"server: novaflow-temporal-server "+devstack.TemporalServerVersion+" on PostgreSQL, gate on (NOVAFLOW_AUTH), payload codec off",
		fmt.Sprintf("latency: %d calls per scenario, one at a time, scenarios interleaved in blocks of %d", *n, *block))
	lat, err := measureLatency(ctx, scs, *n, *block)
	if err != nil {
		return err
	}
	latencyTable(out, scs, lat)
	return nil
}
