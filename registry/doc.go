// Package registry is the registry by name that novaflow's managers, driver
// kinds and scheduler strategies share, in the style of database/sql: one
// Registry per kind of thing, filled from init functions of the packages a
// program imports (for effect when it names nothing else in them), and
// looked up by the name configuration gives.
//
// Register panics on an empty name, a nil value or a name already taken:
// those are programming errors, found when the binary starts. Lookup of a
// name nothing registered fails with an *UnknownError that lists what is
// registered and matches ErrUnknown with errors.Is:
//
//	unknown compute driver "x" (forgotten import?); registered: fake, process
//
// A driver kind does not use this package directly: drivers.NewRegistry
// wraps it with Open.
package registry
