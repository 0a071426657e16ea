package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/workflows"
)

// Values of `novaflow dev --temporal`.
const (
	// temporalDev is the Temporal CLI's dev server, on SQLite, with the Web UI.
	temporalDev = "dev"
	// temporalPostgres is the pinned Temporal server (the one the CLI
	// bundles) on the dev stack's PostgreSQL, as in production: its
	// databases temporal and temporal_visibility sit beside novaflow's; the
	// Web UI server the CLI embeds serves its UI.
	temporalPostgres = "postgres"
)

// startDevTemporal starts the Temporal that --temporal chooses, keeping its
// files in dir; databaseURL is the stack's PostgreSQL.
func startDevTemporal(ctx context.Context, o devOptions, dir, databaseURL string, out io.Writer, say func(string, ...any)) (*devstack.Temporal, error) {
	hostPort := fmt.Sprintf("127.0.0.1:%d", o.temporalPort)
	switch o.temporal {
	case temporalDev, "":
		say("starting the Temporal dev server on %s (the first run builds the pinned Temporal CLI: a few minutes)", hostPort)
		tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
			Progress:         out,
			HostPort:         hostPort,
			EnableUI:         true,
			UIPort:           o.uiPort,
			DBFilename:       filepath.Join(dir, "temporal.db"),
			SearchAttributes: workflows.SearchAttributes(),
			Stderr:           logFile(filepath.Join(dir, "temporal.log")),
		})
		if err != nil {
			return nil, fmt.Errorf("start Temporal (--temporal-port %d, --ui-port %d): %w", o.temporalPort, o.uiPort, err)
		}
		return tmp, nil
	case temporalPostgres:
		say("starting the Temporal server %s on PostgreSQL on %s and its Web UI on 127.0.0.1:%d (the first run builds them: a few minutes)", devstack.TemporalServerVersion, hostPort, o.uiPort)
		log := logFile(filepath.Join(dir, "temporal.log"))
		tmp, err := devstack.StartTemporalSQL(ctx, devstack.TemporalSQLOptions{
			PostgresURL:      databaseURL,
			Dir:              filepath.Join(dir, "temporal-server"),
			HostPort:         hostPort,
			UIHostPort:       fmt.Sprintf("127.0.0.1:%d", o.uiPort),
			SearchAttributes: workflows.SearchAttributes(),
			Progress:         out,
			Stdout:           log,
			Stderr:           log,
		})
		if err != nil {
			return nil, fmt.Errorf("start Temporal on PostgreSQL (--temporal postgres, --temporal-port %d, --ui-port %d): %w", o.temporalPort, o.uiPort, err)
		}
		return tmp, nil
	default:
		return nil, fmt.Errorf("--temporal %q: want %s or %s", o.temporal, temporalDev, temporalPostgres)
	}
}

// devTemporalUI is the address of the Web UI of the dev stack's Temporal:
// the dev server's own, or the UI server started beside the server on
// PostgreSQL.
func devTemporalUI(o devOptions) string {
	return fmt.Sprintf("http://127.0.0.1:%d", o.uiPort)
}
