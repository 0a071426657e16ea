// Package devstack starts the real components novaflow runs on, as child
// processes of the calling program: a PostgreSQL cluster in a data directory
// (StartPostgres), a Temporal dev server from the pinned Temporal CLI
// (TemporalCLI, StartTemporal), and, production-like, the pinned Temporal
// server on PostgreSQL (StartTemporalSQL).
//
// `novaflow dev` and the test harness (package testenv) use it. Every child is
// started so that it does not outlive its parent on Linux (the kernel sends it
// SIGINT when the parent dies); callers should still Stop what they start, which
// also waits for a clean shutdown.
package devstack
