// Package temporalserver pins the Temporal server (go.temporal.io/server/cmd/server)
// and its SQL schema tool (go.temporal.io/server/cmd/tools/sql, temporal-sql-tool)
// at the version the pinned CLI bundles, so Temporal can run on PostgreSQL on a
// machine with only the Go module proxy. `go tool -n server` and
// `go tool -n temporal-sql-tool` in this folder print the cached binaries' paths,
// building them first if needed.
package temporalserver
