package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
// On PostgreSQL the server gets gate's settings (gateSettings): with --auth,
// its gate verifies the temporal CLI's --api-key and checks starts.
func startDevTemporal(ctx context.Context, o devOptions, dir, databaseURL string, gate []string, out io.Writer, say func(string, ...any)) (*devstack.Temporal, error) {
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
			Env:              gate,
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

// gateSettings are the settings of the Temporal server's gate
// (tools/temporal-server/gate) with --auth: the services' NOVAFLOW_AUTH,
// _JWKS, _ISSUER and _AUDIENCE and key ring (extra, dev's), and the
// shell's policy file, claim names and key ring when set; none without
// --auth, so the server is then the stock one.
func gateSettings(o devOptions, extra []string) []string {
	if !o.auth {
		return nil
	}
	var env []string
	for _, k := range []string{"NOVAFLOW_AUTH_POLICY_FILE", "NOVAFLOW_AUTH_USER_CLAIM", "NOVAFLOW_AUTH_PROJECT_CLAIM", "NOVAFLOW_AUTH_ROLES_CLAIM", "NOVAFLOW_PAYLOAD_KEYS_FILE"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	for _, kv := range extra {
		if strings.HasPrefix(kv, "NOVAFLOW_AUTH") || strings.HasPrefix(kv, "NOVAFLOW_PAYLOAD_KEYS_FILE=") {
			env = append(env, kv)
		}
	}
	return env
}

// devTemporalUI is the address of the Web UI of the dev stack's Temporal:
// the dev server's own, or the UI server started beside the server on
// PostgreSQL.
func devTemporalUI(o devOptions) string {
	return fmt.Sprintf("http://127.0.0.1:%d", o.uiPort)
}
