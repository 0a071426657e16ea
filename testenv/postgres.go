package testenv

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres returns the URL of a new, empty database for the test, dropped
// (with FORCE, closing what is still connected) when the test ends. The
// databases live on one PostgreSQL cluster per test binary, or on the server
// of NOVAFLOW_DATABASE_URL (or DATABASE_URL) when set, which must be
// PostgreSQL 13 or later (DROP DATABASE ... WITH (FORCE)).
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := postgresAdminURL()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	testURL, err := url.Parse(admin)
	if err != nil || (testURL.Scheme != "postgres" && testURL.Scheme != "postgresql") {
		t.Fatalf("testenv: the database URL %q is not a postgres:// URL (NOVAFLOW_DATABASE_URL or DATABASE_URL)", redact(admin))
	}
	name := uniqueName(t, "test", '_', 63)
	quoted := pgx.Identifier{name}.Sanitize()
	if err := execAdmin(admin, "CREATE DATABASE "+quoted); err != nil {
		t.Fatalf("testenv: creating test database %s on %s: %v", name, redact(admin), err)
	}
	t.Cleanup(func() {
		if err := execAdmin(admin, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: dropping test database %s: %v", name, err)
		}
	})
	testURL.Path = "/" + name
	return testURL.String()
}

// execAdmin runs one statement on a new connection to the admin URL.
func execAdmin(adminURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// redact hides the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
