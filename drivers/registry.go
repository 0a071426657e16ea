package drivers

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// ErrUnknown is matched, through errors.Is, by the error a Registry returns
// for a name that nothing registered.
var ErrUnknown = errors.New("unknown driver")

// UnknownError reports a driver name that is not registered for its kind.
// It matches ErrUnknown with errors.Is.
type UnknownError struct {
	Kind       string   // driver kind, e.g. "compute"
	Name       string   // the name asked for
	Registered []string // the names registered at the time, sorted
}

// Error returns, for example,
// `unknown compute driver "x" (forgotten import?); registered: fake, process`.
func (e *UnknownError) Error() string {
	registered := "none registered"
	if len(e.Registered) > 0 {
		registered = "registered: " + strings.Join(e.Registered, ", ")
	}
	return fmt.Sprintf("unknown %s driver %q (forgotten import?); %s", e.Kind, e.Name, registered)
}

// Is reports whether target is ErrUnknown.
func (e *UnknownError) Is(target error) bool { return target == ErrUnknown }

// Registry maps driver names to factories of type F for one driver kind.
// It is safe for concurrent use. Its zero value is not usable: create one
// with NewRegistry.
type Registry[F any] struct {
	kind string

	mu        sync.RWMutex
	factories map[string]F
}

// NewRegistry returns an empty registry for the driver kind named kind
// (used in messages, e.g. "compute").
func NewRegistry[F any](kind string) *Registry[F] {
	return &Registry[F]{kind: kind, factories: make(map[string]F)}
}

// Kind returns the driver kind the registry was created for.
func (r *Registry[F]) Kind() string { return r.kind }

// Register makes the factory f available under name. Like sql.Register, it
// panics if name is empty, if f is nil, or if name is already registered:
// these are programming errors found at init time.
func (r *Registry[F]) Register(name string, f F) {
	if name == "" {
		panic(fmt.Sprintf("drivers: Register %s driver with an empty name", r.kind))
	}
	if isNil(f) {
		panic(fmt.Sprintf("drivers: Register %s driver %q is nil", r.kind, name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.factories[name]; dup {
		panic(fmt.Sprintf("drivers: Register called twice for %s driver %q", r.kind, name))
	}
	r.factories[name] = f
}

// Lookup returns the factory registered under name, or an *UnknownError
// (matching ErrUnknown) that lists the registered names.
func (r *Registry[F]) Lookup(name string) (F, error) {
	r.mu.RLock()
	f, ok := r.factories[name]
	r.mu.RUnlock()
	if !ok {
		var zero F
		return zero, &UnknownError{Kind: r.kind, Name: name, Registered: r.Names()}
	}
	return f, nil
}

// Names returns the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for name := range r.factories {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// isNil reports whether v is a nil interface or a nil func, pointer, map,
// slice, channel or interface value.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Func, reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice,
		reflect.Chan, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
