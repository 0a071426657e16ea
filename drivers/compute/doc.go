// Package compute defines the compute driver kind: what the compute manager
// needs from a hypervisor-like backend to run instances on its host.
//
// The Driver interface is owned here, by its consumer, and is kept small.
// Implementations live in their own packages (drivers/compute/fake,
// drivers/compute/process), register themselves by name in init, and are
// opened by the name configured in NOVAFLOW_COMPUTE_DRIVER:
//
//	import _ "github.com/novaflow/novaflow/drivers/compute/process"
//
//	d, err := compute.Open("process", compute.Config{Host: host, StateDir: dir})
//
// Capabilities that only some drivers have are to be added as optional
// one-method interfaces, found by type assertion on a Driver (as
// database/sql/driver does); there are none yet.
//
// Every implementation must pass the contract tests in
// drivers/compute/computetest.
package compute
