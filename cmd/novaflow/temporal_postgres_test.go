//go:build temporalsql

package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/testenv"
)

// TestTemporalSetupOnTemporalPostgres runs `novaflow temporal setup` against
// the pinned Temporal server on PostgreSQL (SQL visibility, as production),
// in a namespace the server has never seen:
//
//	go test -tags temporalsql -run TestTemporalSetupOnTemporalPostgres ./cmd/novaflow
func TestTemporalSetupOnTemporalPostgres(t *testing.T) {
	pgURL := testenv.Postgres(t)
	prefix := fmt.Sprintf("tsetup_%d", time.Now().UnixNano()%1_000_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // the first run builds the server
	defer cancel()
	dir := t.TempDir()
	out := &testenv.Buffer{}
	tmp, err := devstack.StartTemporalSQL(ctx, devstack.TemporalSQLOptions{
		PostgresURL: pgURL, Dir: dir, DatabasePrefix: prefix, Stdout: out, Stderr: out,
	})
	if err != nil {
		t.Fatalf("start Temporal on PostgreSQL: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = tmp.Stop()
		dropDatabases(t, pgURL, prefix, prefix+"_visibility")
	})
	checkTemporalSetup(t, tmp.Address(), testenv.UniqueName(t, "setup"))
}

// dropDatabases drops the databases Temporal created beside the test's own.
func dropDatabases(t *testing.T, pgURL string, names ...string) {
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Error(err)
		return
	}
	u.Path = "/postgres"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(ctx)
	for _, name := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	}
}
