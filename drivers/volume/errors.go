package volume

import (
	"errors"
	"fmt"
)

// Sentinel errors that drivers return, wrapped with context; test for them
// with errors.Is.
var (
	// ErrNotFound: the driver has no volume with that ID.
	ErrNotFound = errors.New("volume not found")
	// ErrExists: Create of an ID the driver has with another size.
	ErrExists = errors.New("volume already exists")
	// ErrInvalid: a bad argument (see InvalidError); retrying cannot help.
	ErrInvalid = errors.New("invalid volume request")
	// ErrBusy: Attach at a mountpoint where something else already is.
	ErrBusy = errors.New("mountpoint is in use")
	// ErrClosed: the driver was closed.
	ErrClosed = errors.New("volume driver is closed")
)

// InvalidError names the argument that is not acceptable. It matches
// ErrInvalid with errors.Is.
type InvalidError struct {
	Field  string // "id", "size_gb" or "mountpoint"
	Reason string // e.g. "must be positive, got 0"
}

// Error returns, for example, "invalid volume request: size_gb must be
// positive, got 0".
func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid volume request: %s %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns an *InvalidError for field; drivers use it for checks of
// their own.
func Invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
