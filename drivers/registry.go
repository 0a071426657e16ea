package drivers

import (
	"fmt"

	"github.com/novaflow/novaflow/registry"
)

// Registry holds the implementations of one driver kind by name: functions
// that open a driver of type D with a configuration of type C. It is safe
// for concurrent use. Create one with NewRegistry.
type Registry[D, C any] struct {
	kind  string
	opens *registry.Registry[func(C) (D, error)]
}

// NewRegistry returns an empty registry for the driver kind named kind
// (used in messages and in NOVAFLOW_<KIND>_DRIVER, e.g. "compute"). A kind
// declares one and forwards to it:
//
//	var registry = drivers.NewRegistry[Driver, Config]("dns")
//
//	func Register(name string, open func(Config) (Driver, error)) { registry.Register(name, open) }
//	func Open(name string, cfg Config) (Driver, error)           { return registry.Open(name, cfg) }
func NewRegistry[D, C any](kind string) *Registry[D, C] {
	return &Registry[D, C]{kind: kind, opens: registry.New[func(C) (D, error)](kind + " driver")}
}

// Kind returns the driver kind the registry was created for.
func (r *Registry[D, C]) Kind() string { return r.kind }

// Register makes the driver that open opens available under name. It is
// meant to be called from the implementation's init function and, like
// sql.Register, panics if name is empty, open is nil, or name is already
// registered.
func (r *Registry[D, C]) Register(name string, open func(C) (D, error)) {
	r.opens.Register(name, open)
}

// Open opens the driver registered under name with cfg. An unknown name
// fails with a *registry.UnknownError (matching registry.ErrUnknown) that
// lists the registered drivers; a driver that fails to open fails with its
// error, wrapped with the kind and name.
func (r *Registry[D, C]) Open(name string, cfg C) (D, error) {
	open, err := r.opens.Lookup(name)
	if err != nil {
		var zero D
		return zero, err
	}
	d, err := open(cfg)
	if err != nil {
		var zero D
		return zero, fmt.Errorf("open %s driver %q: %w", r.kind, name, err)
	}
	return d, nil
}

// Names returns the names of the registered drivers, sorted.
func (r *Registry[D, C]) Names() []string { return r.opens.Names() }
