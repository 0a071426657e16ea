// Package testenv gives tests the real components novaflow runs on: a fresh
// PostgreSQL database per test (Postgres) and a Temporal server (Temporal),
// plus unique names for hosts and task queues (UniqueName).
//
// The servers are started once per test binary, on first use, from
// internal/devstack: a PostgreSQL cluster in a temporary directory (test mode:
// no fsync) and an in-memory Temporal dev server of the pinned Temporal CLI
// with novaflow's search attributes and dev stack settings. The first run on a
// machine builds that CLI, which takes a few minutes and prints progress to
// stderr (shown by go test -v).
//
// Environment variables point the tests at existing servers instead:
//
//	NOVAFLOW_DATABASE_URL (or DATABASE_URL)  a PostgreSQL server on which the
//	                                         user may CREATE DATABASE
//	NOVAFLOW_TEMPORAL_ADDRESS                a Temporal frontend host:port
//	NOVAFLOW_TEMPORAL_NAMESPACE              its namespace, default "default"
//	NOVAFLOW_TEMPORAL_CLI                    a temporal binary to use instead of
//	                                         building the pinned one
//	NOVAFLOW_PG_BINDIR                       where initdb and postgres are
//
// A component that cannot be had fails the test with a message saying what is
// missing and how to get it; tests are never skipped for it.
//
// A package whose tests use testenv should stop the servers when its tests are
// done:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without it the servers still exit with the test binary on Linux (they get
// SIGINT when it exits), but the PostgreSQL data directory is left behind in
// the system temporary directory.
package testenv
