package volume

import (
	"context"

	"github.com/novaflow/novaflow/drivers"
)

// Driver keeps the volumes of one host. Implementations must be safe for
// concurrent use. Every method that takes an ID returns an error matching
// ErrInvalid for an ID that ValidateID rejects; after Close every method
// returns an error matching ErrClosed.
type Driver interface {
	// Create makes volume id of sizeGB GiB. Creating an ID the driver
	// already has with the same size succeeds and does nothing (a retried
	// request); with another size it fails with ErrExists. A size that
	// ValidateSize rejects fails with ErrInvalid. When Create fails,
	// nothing of the volume is left.
	Create(ctx context.Context, id string, sizeGB int) error
	// Delete removes the volume and its data; ErrNotFound when the driver
	// does not have it. The caller detaches it first.
	Delete(ctx context.Context, id string) error
	// Attach makes the volume visible at mountpoint, an absolute path on
	// this host in the instance's directory (see ValidateMountpoint): after
	// it, whatever the driver made there is the volume's data, of its full
	// size. An empty mountpoint makes nothing visible and succeeds (the
	// instance's compute driver has no directory to show it in). Attaching
	// again at the same mountpoint succeeds; ErrBusy when something else is
	// there; ErrNotFound for an unknown volume.
	Attach(ctx context.Context, id, mountpoint string) error
	// Detach undoes Attach at mountpoint. It succeeds when nothing of the
	// volume is there (already detached, or never attached), and leaves
	// alone anything at mountpoint that is not the volume's. ErrNotFound
	// for an unknown volume.
	Detach(ctx context.Context, id, mountpoint string) error
	// List reports every volume the driver has, sorted by ID.
	List(ctx context.Context) ([]Volume, error)
	// Capacity reports the storage the host has for volumes.
	Capacity(ctx context.Context) (Capacity, error)
	// Close releases what the driver holds; the volumes stay. Close is
	// idempotent.
	Close() error
}

// Factory opens a driver with its configuration.
type Factory func(Config) (Driver, error)

var registry = drivers.NewRegistry[Driver, Config]("volume")

// Register makes a volume driver available under name. It is meant to be
// called from the implementation's init function, and panics if name is
// empty, f is nil, or name is already registered.
func Register(name string, f Factory) { registry.Register(name, f) }

// Open opens the volume driver registered under name. An unknown name
// fails with a *registry.UnknownError (matching registry.ErrUnknown) that
// lists the registered drivers.
func Open(name string, cfg Config) (Driver, error) { return registry.Open(name, cfg) }

// Drivers returns the names of the registered volume drivers, sorted.
func Drivers() []string { return registry.Names() }
