package compute

import (
	"errors"
	"fmt"
)

// Sentinel errors that drivers return, wrapped with context; test for them
// with errors.Is.
var (
	// ErrNotFound: the driver knows no instance with that UUID.
	ErrNotFound = errors.New("instance not found")
	// ErrExists: Spawn of a UUID the driver already knows.
	ErrExists = errors.New("instance already exists")
	// ErrInvalid: a bad argument (see InvalidError); retrying cannot help.
	ErrInvalid = errors.New("invalid instance")
	// ErrClosed: the driver was closed.
	ErrClosed = errors.New("compute driver is closed")
)

// InvalidError names the field of an instance that is not acceptable.
// It matches ErrInvalid with errors.Is.
type InvalidError struct {
	Field  string // e.g. "command", "flavor.vcpus", "env[2]"
	Reason string // e.g. "is empty"
}

// Error returns, for example, "invalid instance: command is empty".
func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid instance: %s %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
