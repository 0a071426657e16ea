package registry

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// ErrUnknown is matched, through errors.Is, by the error Lookup returns for a
// name that nothing registered.
var ErrUnknown = errors.New("unknown name")

// UnknownError reports a name that is not registered.
// It matches ErrUnknown with errors.Is.
type UnknownError struct {
	What       string   // what the registry holds, e.g. "compute driver", "manager"
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
	return fmt.Sprintf("unknown %s %q (forgotten import?); %s", e.What, e.Name, registered)
}

// Is reports whether target is ErrUnknown.
func (e *UnknownError) Is(target error) bool { return target == ErrUnknown }

// Registry maps names to values of type V. It is safe for concurrent use.
// Its zero value is not usable: create one with New.
type Registry[V any] struct {
	what string

	mu     sync.RWMutex
	values map[string]V
}

// New returns an empty registry of what (a noun used in messages, e.g.
// "compute driver" or "manager").
func New[V any](what string) *Registry[V] {
	return &Registry[V]{what: what, values: make(map[string]V)}
}

// What returns what the registry holds, as given to New.
func (r *Registry[V]) What() string { return r.what }

// Register makes v available under name. Like sql.Register, it panics if
// name is empty, if v is nil (a nil interface, func, pointer, map, slice or
// channel), or if name is already registered.
func (r *Registry[V]) Register(name string, v V) {
	if name == "" {
		panic(fmt.Sprintf("registry: Register %s with an empty name", r.what))
	}
	if isNil(v) {
		panic(fmt.Sprintf("registry: Register %s %q is nil", r.what, name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.values[name]; dup {
		panic(fmt.Sprintf("registry: Register called twice for %s %q", r.what, name))
	}
	r.values[name] = v
}

// Lookup returns the value registered under name, or an *UnknownError
// (matching ErrUnknown) that lists the registered names.
func (r *Registry[V]) Lookup(name string) (V, error) {
	r.mu.RLock()
	v, ok := r.values[name]
	r.mu.RUnlock()
	if !ok {
		var zero V
		return zero, &UnknownError{What: r.what, Name: name, Registered: r.Names()}
	}
	return v, nil
}

// Names returns the registered names, sorted.
func (r *Registry[V]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.values))
	for name := range r.values {
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
