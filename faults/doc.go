// Package faults holds novaflow's reliability and security tests: it has no
// code of its own, only tests that run the real control plane (compute,
// scheduler and conductor services, the Temporal dev server and PostgreSQL)
// and break it on purpose.
//
//   - Bad input (go test ./faults): every RPC method and workflow input
//     given wrong types, unknown and missing fields, huge and negative
//     values, unknown instances and hosts fails at once, typed and naming
//     the field, without a retry and without a row written; every setting
//     given a bad value stops the novaflow binary with exit code 1 and one
//     line naming the setting; secrets given in files are used and never
//     printed; sslmode in the database URL is honoured.
//   - Faults (go test -tags faults ./faults): services run as processes of
//     their own (the test binary re-executed as `novaflow run <topic>`) and
//     are killed with SIGKILL in the middle of builds; PostgreSQL and the
//     file-backed Temporal server are restarted under load; a bounded load
//     test builds many instances on simulated hosts.
//
// docs/reliability.md lists each fault, what happens, and the test that
// shows it.
package faults
