// Package temporal pins the Temporal CLI (and so its dev server) that novaflow's
// dev stack and test harness run. `go tool -n temporal` in this folder prints the
// path of the cached binary, building it first if needed.
package temporal
