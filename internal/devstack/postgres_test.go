package devstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresTempDir returns a new directory for a data directory, removed at the
// end of the test. As root, PostgreSQL runs as the user postgres, which cannot
// enter t.TempDir() (its parent is 0700), so the directory is made under the
// system temporary directory and left traversable.
func postgresTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "pg")
}

func startPostgres(t *testing.T, opts PostgresOptions) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	pg, err := StartPostgres(ctx, opts)
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	t.Logf("postgres started in %s: %s", time.Since(start).Round(time.Millisecond), pg.URL())
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return pg
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func TestPostgresRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := postgresTempDir(t)

	pg := startPostgres(t, PostgresOptions{DataDir: dir, Database: "keep"})
	if !strings.HasPrefix(pg.URL(), "postgres://novaflow@127.0.0.1:") || !strings.HasSuffix(pg.URL(), "/keep?sslmode=disable") {
		t.Errorf("URL() = %s, want postgres://novaflow@127.0.0.1:<port>/keep?sslmode=disable", pg.URL())
	}
	conn := connect(t, pg.URL())
	var fsync string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
		t.Errorf("SHOW fsync = %q, %v; want off in test mode", fsync, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')"); err != nil {
		t.Fatalf("creating a table: %v", err)
	}
	conn.Close(ctx)
	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v, want it removed by a clean shutdown", err)
	}

	pg = startPostgres(t, PostgresOptions{DataDir: dir, Database: "keep", Durable: true})
	var v string
	if err := connect(t, pg.URL()).QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "hello" {
		t.Fatalf("reading the table after a restart: %q, %v; want hello", v, err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// A killed server leaves postmaster.pid behind, and its pid may since
	// belong to another process: here, this test binary.
	pidFile := filepath.Join(dir, "postmaster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pg = startPostgres(t, PostgresOptions{DataDir: dir, Database: "keep"})
	if err := connect(t, pg.URL()).QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "hello" {
		t.Fatalf("reading the table after a stale postmaster.pid: %q, %v; want hello", v, err)
	}
}

func TestPostgresSecondServerOnSameDirFails(t *testing.T) {
	t.Parallel()
	dir := postgresTempDir(t)
	startPostgres(t, PostgresOptions{DataDir: dir})

	_, err := StartPostgres(context.Background(), PostgresOptions{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second StartPostgres on %s: %v, want an error saying a server is already running", dir, err)
	}
}

func TestPostgresBinDirFromEnv(t *testing.T) {
	t.Setenv("NOVAFLOW_PG_BINDIR", t.TempDir())
	_, err := PostgresBinDir()
	if !errors.Is(err, ErrPostgresNotFound) {
		t.Fatalf("PostgresBinDir with an empty NOVAFLOW_PG_BINDIR: %v, want ErrPostgresNotFound", err)
	}
	for _, want := range []string{"NOVAFLOW_PG_BINDIR", "initdb", "postgresql package", "NOVAFLOW_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestPostgresBinDirFound(t *testing.T) {
	dir, err := PostgresBinDir()
	if err != nil {
		t.Fatalf("PostgresBinDir: %v", err)
	}
	if !hasPostgresServer(dir) {
		t.Fatalf("PostgresBinDir() = %s, which lacks initdb or postgres", dir)
	}
}

func TestStartPostgresNeedsDataDir(t *testing.T) {
	if _, err := StartPostgres(context.Background(), PostgresOptions{}); err == nil {
		t.Fatal("StartPostgres without DataDir succeeded")
	}
}
