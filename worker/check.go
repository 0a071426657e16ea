package worker

import (
	"context"
	"errors"
	"fmt"
	"github.com/novaflow/novaflow/auth"
	"go.temporal.io/sdk/workflow"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"

	"github.com/novaflow/novaflow/codec"
	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/telemetry"
)

// checkTimeout bounds each reachability check of basicConfigCheck.
const checkTimeout = 15 * time.Second

// basicConfigCheck is nova's basic_config_check, grown to what a novaflow
// service needs: a writable temp dir, PostgreSQL reachable with a current
// schema, Temporal reachable with our namespace and its search attributes
// (`novaflow temporal setup`), and the manager built with
// its drivers. Each failure names the setting to fix.
func (s *Service) basicConfigCheck(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "novaflow-check-")
	if err != nil {
		return fmt.Errorf("TMPDIR: temp dir not writable: %w", err)
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("TMPDIR: temp dir not writable: %w", err)
	}

	if s.pool == nil {
		pool, err := db.Open(ctx, s.cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
		}
		s.pool = pool
		s.owned = append(s.owned, pool.Close)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	s.store = servicegroup.NewStore(s.pool)
	if s.verifier != nil {
		if s.markKeys, err = loadMarkKeys(ctx, s.pool); err != nil {
			return fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
		}
	}

	if s.client == nil {
		c, err := Dial(ctx, s.cfg, s.logger)
		if err != nil {
			return err
		}
		s.client = c
		s.owned = append(s.owned, c.Close)
	} else if err := CheckNamespace(ctx, s.client, s.cfg); err != nil {
		return err
	}
	if err := CheckSearchAttributes(ctx, s.client, s.cfg.TemporalNamespace); err != nil {
		return err
	}

	mgr, err := s.newManager()
	if err != nil {
		return err
	}
	s.mgr = mgr
	return nil
}

// Schemas are the migration sets the given managers need, in the order they
// are applied: novaflow's own ("novaflow"), then for each manager the
// schemas it shares with others (Definition.Schemas) and its own
// (Definition.Migrations, named after the manager). A schema listed by
// several managers appears once.
func Schemas(defs ...managers.Definition) []managers.Schema {
	core := db.Core()
	out := []managers.Schema{{Name: core.Name, Migrations: core.FS}}
	seen := map[string]bool{core.Name: true}
	add := func(s managers.Schema) {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	for _, def := range defs {
		for _, s := range def.Schemas {
			add(s)
		}
		if def.Migrations != nil {
			add(managers.Schema{Name: def.Name, Migrations: def.Migrations})
		}
	}
	return out
}

// MigrateSchemas applies schemas to pool's database in order, each under its
// advisory lock, logging to logger when it is not nil: what Migrate and
// `novaflow migrate` do.
func MigrateSchemas(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, schemas ...managers.Schema) error {
	return db.Migrate(ctx, pool, logger, dbSchemas(schemas)...)
}

// dbSchemas are schemas as package db applies them.
func dbSchemas(schemas []managers.Schema) []db.Schema {
	out := make([]db.Schema, len(schemas))
	for i, s := range schemas {
		out[i] = db.Schema{Name: s.Name, FS: s.Migrations}
	}
	return out
}

// Migrate applies novaflow's schema and the schemas of the given managers
// (Definition.Schemas and Definition.Migrations) to pool's database, as a
// service does at start: for a manager's tests without the runtime, and for
// tools. It is safe to run from many processes at once and does nothing when
// all is current.
func Migrate(ctx context.Context, pool *pgxpool.Pool, defs ...managers.Definition) error {
	if err := MigrateSchemas(ctx, pool, nil, Schemas(defs...)...); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func (s *Service) migrate(ctx context.Context) error {
	if s.cfg.MigrateOnStart {
		if err := db.Migrate(ctx, s.pool, nil, dbSchemas(Schemas(s.def))...); err != nil {
			return fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
		}
		return nil
	}
	if err := db.CheckCurrent(ctx, s.pool, dbSchemas(Schemas(s.def))...); err != nil {
		return fmt.Errorf("NOVAFLOW_MIGRATE_ON_START=false: %w", err)
	}
	return nil
}

// Dial connects a Temporal client for cfg and checks that its namespace
// exists; failures name NOVAFLOW_TEMPORAL_ADDRESS or NOVAFLOW_TEMPORAL_NAMESPACE.
func Dial(ctx context.Context, cfg Config, logger *slog.Logger) (client.Client, error) {
	c, err := DialServer(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := CheckNamespace(ctx, c, cfg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialServer connects a Temporal client for cfg without checking its
// namespace, which may not exist yet (SetupTemporal creates it).
func DialServer(ctx context.Context, cfg Config, logger *slog.Logger) (client.Client, error) {
	dialCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	conn, creds, err := cfg.temporalConnection()
	if err != nil {
		return nil, err
	}
	if pc, err := cfg.PayloadCodec(logger); err != nil {
		return nil, err
	} else if pc != nil {
		opt, err := codec.DialOption(pc)
		if err != nil {
			return nil, err
		}
		conn.DialOptions = append(conn.DialOptions, opt)
	}
	conn.DialOptions = append(conn.DialOptions, testDialOptions...)
	c, err := client.DialContext(dialCtx, telemetry.ClientOptions(client.Options{
		HostPort:          cfg.TemporalAddress,
		Namespace:         cfg.TemporalNamespace,
		Logger:            sdklog.NewStructuredLogger(logger),
		Identity:          fmt.Sprintf("%d@%s", os.Getpid(), cfg.Host),
		ConnectionOptions: conn,
		// Status reports read liveness from these heartbeats (one call per
		// client for all its workers, kept in the server's memory).
		WorkerHeartbeatInterval: cfg.workerHeartbeatInterval(),
		Credentials:             creds,
		HeadersProvider:         cfg.temporalHeaders(),
		// The caller's token travels with every call (package auth).
		ContextPropagators: []workflow.ContextPropagator{auth.Propagator{Default: cfg.tokenSource()}},
	}))
	if err != nil {
		return nil, fmt.Errorf("%s: cannot reach Temporal at %s: %w", cfg.setting("NOVAFLOW_TEMPORAL_ADDRESS"), cfg.TemporalAddress, err)
	}
	return c, nil
}

// testDialOptions, when set (by tests, before they start, to count the
// calls services make), are added to the connection of every client that
// DialServer makes.
var testDialOptions []grpc.DialOption

// CheckNamespace checks that cfg's namespace exists on the server c talks to.
func CheckNamespace(ctx context.Context, c client.Client, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.TemporalNamespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("%s: namespace %q does not exist on %s: run `%s` first", cfg.setting("NOVAFLOW_TEMPORAL_NAMESPACE"), cfg.TemporalNamespace, cfg.TemporalAddress, SetupCommand)
	}
	if err != nil {
		return fmt.Errorf("%s: namespace %q on %s: %w", cfg.setting("NOVAFLOW_TEMPORAL_NAMESPACE"), cfg.TemporalNamespace, cfg.TemporalAddress, err)
	}
	return nil
}
