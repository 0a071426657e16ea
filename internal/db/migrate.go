package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var coreMigrations embed.FS

// Schema is one set of versioned migrations with its own version table, so that
// a service written outside this module can bring its own tables.
type Schema struct {
	// Name names the set; its versions are kept in table goose_<name>.
	Name string
	// FS holds the migrations, files named like 00001_create_things.sql.
	FS fs.FS
}

// Core is the schema of novaflow itself: the services table and what the
// status reports keep.
func Core() Schema {
	sub, err := fs.Sub(coreMigrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return Schema{Name: "novaflow", FS: sub}
}

var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

func (s Schema) provider(pool *pgxpool.Pool, logger *slog.Logger) (*goose.Provider, error) {
	if !schemaName.MatchString(s.Name) {
		return nil, fmt.Errorf("schema name %q: want lower-case letters, digits and _", s.Name)
	}
	// One advisory lock id per schema: services starting at once wait for each
	// other instead of racing on the same DDL.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(s.Name)))
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithTableName("goose_" + s.Name),
		goose.WithDisableGlobalRegistry(true),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger), goose.WithVerbose(true))
	}
	return goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), s.FS, opts...)
}

// lockID derives a stable advisory lock id from the schema name (FNV-1a).
func lockID(name string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return int64(h >> 1)
}

// Migrate applies every pending migration of the given schemas (Core first when
// it is listed), each under its advisory lock. It is safe to call from many
// processes at once and does nothing when the schemas are current.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger, schemas ...Schema) error {
	for _, s := range schemas {
		p, err := s.provider(pool, logger)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.Name, err)
		}
		_, err = p.Up(ctx)
		p.Close()
		if err != nil && !errors.Is(err, goose.ErrNoNextVersion) {
			return fmt.Errorf("migrate %s: %w", s.Name, err)
		}
	}
	return nil
}

// ErrSchemaBehind means the database lacks migrations this binary needs.
var ErrSchemaBehind = errors.New("database schema is behind this binary")

// CheckCurrent returns an error wrapping ErrSchemaBehind when any schema has
// pending migrations.
func CheckCurrent(ctx context.Context, pool *pgxpool.Pool, schemas ...Schema) error {
	for _, s := range schemas {
		p, err := s.provider(pool, nil)
		if err != nil {
			return fmt.Errorf("check schema %s: %w", s.Name, err)
		}
		current, target, err := p.GetVersions(ctx)
		p.Close()
		if err != nil {
			return fmt.Errorf("check schema %s: %w", s.Name, err)
		}
		if current < target {
			return fmt.Errorf("%w: %s is at version %d, want %d (run `novaflow migrate`)", ErrSchemaBehind, s.Name, current, target)
		}
	}
	return nil
}
