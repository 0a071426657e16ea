package store

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// SchemaName is the name of the schema of the tables this package reads and
// writes (compute_nodes, instances, instance_actions), tracked in
// goose_compute_store. Every manager that uses the package lists
// managers.Schema{Name: SchemaName, Migrations: Migrations()} in its
// Definition.Schemas, so that whichever service starts first on a fresh
// database creates the tables.
const SchemaName = "compute_store"

// Migrations are the versioned migrations of schema SchemaName.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return sub
}
