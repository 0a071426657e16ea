// Package drivers holds the name-based registry that every driver kind uses,
// in the style of database/sql.
//
// A driver kind (for example drivers/compute) is an interface owned by the
// package that consumes it. The kind creates one Registry for its factories;
// implementations register themselves by name in an init function, and the
// program imports them for effect:
//
//	import _ "github.com/novaflow/novaflow/drivers/compute/process"
//
// The name to open is chosen by configuration (NOVAFLOW_<KIND>_DRIVER). An
// unknown name fails with an *UnknownError that lists the registered names
// and matches ErrUnknown with errors.Is.
package drivers
