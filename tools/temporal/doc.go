// Package temporal pins the Temporal CLI (and so its dev server) that novaflow's
// dev stack and test harness run. `go tool -n temporal` in this folder prints the
// path of the cached binary, building it first if needed.
//
// It also holds uiserver (`go tool -n uiserver`), Temporal's Web UI server
// (github.com/temporalio/ui-server/v2) at the version the pinned CLI embeds in
// its dev server: `novaflow dev --temporal=postgres` serves the Web UI of the
// Temporal server on PostgreSQL with it. Its version comes from the CLI's
// requirements; bump it only with the CLI.
package temporal
