// Package temporalserver pins the Temporal server (go.temporal.io/server/cmd/server)
// and its SQL schema tool (go.temporal.io/server/cmd/tools/sql, temporal-sql-tool)
// at the version the pinned CLI bundles, so Temporal can run on PostgreSQL on a
// machine with only the Go module proxy, and builds novaflow's server from them:
// cmd/novaflow-temporal-server, the stock server with novaflow's gate on its
// frontend when NOVAFLOW_AUTH is set (package gate, docs/security.md).
// `go tool -n novaflow-temporal-server`, `go tool -n server` and
// `go tool -n sql` in this folder print the cached binaries'
// paths, building them first if needed.
//
// The gate imports the main module's auth, policy and codec packages
// (replace ../..). The server v1.29.1 does not compile with the Temporal
// API, SDK and Nexus SDK versions the main module requires, so go.mod
// replaces those three with the versions the server is built with; the main
// module's own versions are untouched.
package temporalserver
