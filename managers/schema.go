package managers

import "io/fs"

// Schema is a named set of versioned SQL migrations (files like
// 00001_create_things.sql), tracked in its own table goose_<Name>, so that
// services written outside this module bring their own tables. The runtime
// applies each schema a service needs at start, under an advisory lock of
// its name, or checks that it is current (NOVAFLOW_MIGRATE_ON_START=false).
//
// A schema is known by its Name: several managers may list the same one
// (Definition.Schemas), as the reference compute, scheduler and conductor
// list the tables they share, and it is applied once. Its name shares one
// namespace with manager names, whose own migrations (Definition.Migrations)
// are tracked under the manager's name; "novaflow" is the framework's.
type Schema struct {
	// Name names the set: lower-case letters, digits and '_', at most 41.
	Name string
	// Migrations holds the migrations.
	Migrations fs.FS
}
