package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/novaflow/novaflow/internal/devstack"
)

// shared holds the servers of this test binary, started on first use and
// stopped by Main. A failed start is kept too, so that every test using the
// component fails at once with the same message.
var shared struct {
	pgOnce  sync.Once
	pg      *devstack.Postgres // nil when NOVAFLOW_DATABASE_URL is used
	pgDir   string             // the cluster's temporary directory
	pgURL   string             // the server's admin URL
	pgErr   error
	tmpOnce sync.Once
	tmp     *devstack.Temporal // nil when NOVAFLOW_TEMPORAL_ADDRESS is used
	tmpSrv  *TemporalServer
	tmpErr  error
}

// postgresAdminURL returns the URL of a database on the shared PostgreSQL
// server, from which test databases are created, starting it if needed.
func postgresAdminURL() (string, error) {
	shared.pgOnce.Do(func() {
		for _, env := range []string{"NOVAFLOW_DATABASE_URL", "DATABASE_URL"} {
			if url := os.Getenv(env); url != "" {
				shared.pgURL = url
				return
			}
		}
		shared.pg, shared.pgDir, shared.pgErr = startPostgres()
		if shared.pgErr == nil {
			shared.pgURL = shared.pg.URL()
		}
	})
	return shared.pgURL, shared.pgErr
}

// startPostgres starts a cluster in a new temporary directory.
func startPostgres() (*devstack.Postgres, string, error) {
	dir, err := os.MkdirTemp("", "novaflow-testenv-")
	if err != nil {
		return nil, "", fmt.Errorf("creating a directory for the test PostgreSQL cluster: %w", err)
	}
	// As root, PostgreSQL runs as the user postgres, which must enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("opening the test PostgreSQL directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: filepath.Join(dir, "pg")})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("starting PostgreSQL for tests: %w", err)
	}
	return pg, dir, nil
}

// temporalServer returns the shared Temporal server, starting it if needed.
func temporalServer() (*TemporalServer, error) {
	shared.tmpOnce.Do(func() {
		if addr := os.Getenv("NOVAFLOW_TEMPORAL_ADDRESS"); addr != "" {
			ns := os.Getenv("NOVAFLOW_TEMPORAL_NAMESPACE")
			if ns == "" {
				ns = "default"
			}
			shared.tmpSrv, shared.tmpErr = useTemporal(addr, ns)
			return
		}
		// The CLI build may take minutes the first time.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Progress: os.Stderr})
		if err != nil {
			shared.tmpErr = fmt.Errorf("starting the Temporal dev server for tests: %w", err)
			return
		}
		shared.tmp = tmp
		shared.tmpSrv = &TemporalServer{address: tmp.Address(), namespace: tmp.Namespace()}
	})
	return shared.tmpSrv, shared.tmpErr
}

// stopShared stops the servers this process started and removes the
// PostgreSQL directory.
func stopShared() error {
	var errs []error
	if shared.tmp != nil {
		if err := shared.tmp.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the Temporal dev server: %w", err))
		}
	}
	if shared.pg != nil {
		if err := shared.pg.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping PostgreSQL: %w", err))
		}
	}
	if shared.pgDir != "" {
		if err := os.RemoveAll(shared.pgDir); err != nil {
			errs = append(errs, fmt.Errorf("removing the test PostgreSQL directory: %w", err))
		}
	}
	return errors.Join(errs...)
}
