package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoURL is returned by Open when no database URL is configured.
var ErrNoURL = errors.New("no database URL: set NOVAFLOW_DATABASE_URL (or DATABASE_URL)")

// Open parses url, connects a pool and pings the server, so that a wrong or
// unreachable URL fails here, with the password left out of the message.
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	if databaseURL == "" {
		return nil, ErrNoURL
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors never echo the password; keep it that way.
		return nil, fmt.Errorf("parse NOVAFLOW_DATABASE_URL: %w", err)
	}
	// Each statement is a span in the caller's trace (none without one), on
	// the global providers that package telemetry installs; no parameters.
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithDisableAcquireTracer(), otelpgx.WithQuerySpanNamePrefix())
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", Redact(databaseURL), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", Redact(databaseURL), err)
	}
	return pool, nil
}

// Redact returns the URL with its password replaced, for messages and logs.
// Anything that does not parse as a URL (a key=value DSN) is reduced to a
// placeholder, since it may hold a password anywhere.
func Redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Scheme == "" {
		return "(database DSN)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
