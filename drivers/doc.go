// Package drivers holds the registry that every driver kind uses, in the
// style of database/sql.
//
// A driver kind (for example drivers/compute) is an interface owned by the
// package that consumes it, with the configuration a driver is opened with.
// The kind declares one Registry and forwards Register and Open to it:
//
//	var registry = drivers.NewRegistry[Driver, Config]("dns")
//
//	// Register makes a DNS driver available under name; call it from init.
//	func Register(name string, open func(Config) (Driver, error)) { registry.Register(name, open) }
//
//	// Open opens the DNS driver registered under name.
//	func Open(name string, cfg Config) (Driver, error) { return registry.Open(name, cfg) }
//
// Implementations register themselves by name in an init function, and the
// program imports them for effect:
//
//	import _ "github.com/novaflow/novaflow/drivers/compute/process"
//
// The name to open is chosen by configuration (NOVAFLOW_<KIND>_DRIVER). An
// unknown name fails with a *registry.UnknownError that lists the registered
// names and matches registry.ErrUnknown with errors.Is.
//
// Each kind has a contract suite in a package <kind>test (drivers/compute/
// computetest) that every implementation runs from its tests, the fake one
// included; TestEveryKindHasContractTests fails for a kind of this tree, or
// an implementation, without it.
package drivers
