package compute

import (
	"context"
	"time"

	"github.com/novaflow/novaflow/drivers"
)

// Driver runs instances on one host. Implementations must be safe for
// concurrent use; operations on one instance are serialized by the driver.
// Every method that takes a UUID returns an error matching ErrInvalid for a
// UUID that ValidateUUID rejects, and ErrNotFound for one it does not know.
// After Close every method returns an error matching ErrClosed.
type Driver interface {
	// Spawn creates the instance and starts it. It fails with ErrInvalid
	// when inst.Validate fails and with ErrExists when the UUID is known.
	// When Spawn fails, nothing of the instance is left.
	Spawn(ctx context.Context, inst Instance) error
	// PowerOff stops the instance: gracefully first, then forcibly once
	// timeout has passed; a timeout of zero or less forces it at once (as
	// nova's power_off with timeout=0). It succeeds when already off.
	PowerOff(ctx context.Context, uuid string, timeout time.Duration) error
	// PowerOn starts a stopped instance. It succeeds when already running.
	PowerOn(ctx context.Context, uuid string) error
	// Reboot restarts the instance: soft stops it gracefully (forcibly after
	// a driver-specific wait) and starts it again; hard kills it and starts
	// it again. A stopped instance is just started.
	Reboot(ctx context.Context, uuid string, hard bool) error
	// Destroy stops the instance forcibly and removes everything the driver
	// holds for it; afterwards the UUID is unknown.
	Destroy(ctx context.Context, uuid string) error
	// Info reports on one instance.
	Info(ctx context.Context, uuid string) (InstanceInfo, error)
	// List reports on every instance the driver knows, including those it
	// adopted when it was opened, sorted by UUID.
	List(ctx context.Context) ([]InstanceInfo, error)
	// Resources reports the host's total capacity.
	Resources(ctx context.Context) (Resources, error)
	// Close releases what the driver holds. It does not stop instances:
	// they outlive a restart of the compute service (for drivers that can).
	// Close is idempotent.
	Close() error
}

// Factory opens a driver with its configuration.
type Factory func(Config) (Driver, error)

var registry = drivers.NewRegistry[Driver, Config]("compute")

// Register makes a compute driver available under name. It is meant to be
// called from the implementation's init function, and panics if name is
// empty, f is nil, or name is already registered.
func Register(name string, f Factory) { registry.Register(name, f) }

// Open opens the compute driver registered under name. An unknown name
// fails with a *registry.UnknownError (matching registry.ErrUnknown) that
// lists the registered drivers.
func Open(name string, cfg Config) (Driver, error) { return registry.Open(name, cfg) }

// Drivers returns the names of the registered compute drivers, sorted.
func Drivers() []string { return registry.Names() }
