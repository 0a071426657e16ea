package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/worker"
)

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "migrate",
		Example: `  novaflow migrate
  NOVAFLOW_DATABASE_URL=postgres://novaflow@db/novaflow novaflow migrate`,
		Short: "Apply pending database migrations (novaflow's and every registered manager's)",
		Long: `Apply pending database migrations: novaflow's schema and those of every
registered manager that brings tables of its own. Safe to run while services
start: each schema migrates under a PostgreSQL advisory lock.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cfg, err := useDevStack().settings()
			if err != nil {
				return err
			}
			ctx := context.Background()
			pool, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				return fmt.Errorf("NOVAFLOW_DATABASE_URL: %w", err)
			}
			defer pool.Close()
			logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
			if err := worker.MigrateSchemas(ctx, pool, logger, allSchemas()...); err != nil {
				return err
			}
			var names []string
			for _, s := range allSchemas() {
				names = append(names, s.Name)
			}
			return render(cmd, map[string]any{"current": true, "schemas": names}, func(out io.Writer, _ outputOpts) error {
				fmt.Fprintln(out, "database schema is current")
				return nil
			})
		},
	}
}

// allSchemas is novaflow's schema and every registered manager's.
func allSchemas() []managers.Schema {
	var defs []managers.Definition
	for _, name := range managers.Names() {
		def, _ := managers.Lookup(name)
		defs = append(defs, def)
	}
	return worker.Schemas(defs...)
}
