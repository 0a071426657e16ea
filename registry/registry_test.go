package registry_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/novaflow/novaflow/registry"
)

type factory func() string

func TestRegisterPanics(t *testing.T) {
	type opener interface{ Open() }
	var nilFactory factory
	var nilPtr *int
	tests := []struct {
		name    string
		reg     func()
		wantMsg string // empty: must not panic
	}{
		{
			name:    "empty name",
			reg:     func() { registry.New[factory]("compute driver").Register("", func() string { return "" }) },
			wantMsg: `registry: Register compute driver with an empty name`,
		},
		{
			name:    "nil func",
			reg:     func() { registry.New[factory]("compute driver").Register("fake", nilFactory) },
			wantMsg: `registry: Register compute driver "fake" is nil`,
		},
		{
			name:    "nil pointer",
			reg:     func() { registry.New[*int]("compute driver").Register("fake", nilPtr) },
			wantMsg: `registry: Register compute driver "fake" is nil`,
		},
		{
			name:    "nil interface",
			reg:     func() { registry.New[opener]("network driver").Register("fake", nil) },
			wantMsg: `registry: Register network driver "fake" is nil`,
		},
		{
			name:    "nil pointer in interface",
			reg:     func() { registry.New[any]("network driver").Register("fake", nilPtr) },
			wantMsg: `registry: Register network driver "fake" is nil`,
		},
		{
			name: "duplicate",
			reg: func() {
				r := registry.New[factory]("compute driver")
				r.Register("fake", func() string { return "1" })
				r.Register("fake", func() string { return "2" })
			},
			wantMsg: `registry: Register called twice for compute driver "fake"`,
		},
		{
			name: "non-nillable value",
			reg:  func() { registry.New[int]("compute driver").Register("zero", 0) },
		},
		{
			name: "two names",
			reg: func() {
				r := registry.New[factory]("compute driver")
				r.Register("fake", func() string { return "1" })
				r.Register("process", func() string { return "2" })
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := recoverMessage(tt.reg)
			if got != tt.wantMsg {
				t.Fatalf("panic = %q, want %q", got, tt.wantMsg)
			}
		})
	}
}

func recoverMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestLookup(t *testing.T) {
	r := registry.New[factory]("compute driver")
	r.Register("process", func() string { return "process" })
	r.Register("fake", func() string { return "fake" })
	empty := registry.New[factory]("volume driver")

	tests := []struct {
		name    string
		reg     *registry.Registry[factory]
		lookup  string
		want    string
		wantErr string
	}{
		{name: "fake", reg: r, lookup: "fake", want: "fake"},
		{name: "process", reg: r, lookup: "process", want: "process"},
		{
			name: "unknown", reg: r, lookup: "x",
			wantErr: `unknown compute driver "x" (forgotten import?); registered: fake, process`,
		},
		{
			name: "empty name", reg: r, lookup: "",
			wantErr: `unknown compute driver "" (forgotten import?); registered: fake, process`,
		},
		{
			name: "nothing registered", reg: empty, lookup: "x",
			wantErr: `unknown volume driver "x" (forgotten import?); none registered`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.reg.Lookup(tt.lookup)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Lookup(%q) succeeded, want error", tt.lookup)
				}
				if err.Error() != tt.wantErr {
					t.Errorf("error = %q, want %q", err, tt.wantErr)
				}
				if !errors.Is(err, registry.ErrUnknown) {
					t.Errorf("errors.Is(%v, ErrUnknown) = false", err)
				}
				wrapped := fmt.Errorf("loading driver: %w", err)
				var ue *registry.UnknownError
				if !errors.As(wrapped, &ue) || ue.Name != tt.lookup || ue.What != tt.reg.What() {
					t.Errorf("errors.As(*UnknownError) = %+v", ue)
				}
				if f != nil {
					t.Errorf("factory = non-nil, want nil with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.lookup, err)
			}
			if got := f(); got != tt.want {
				t.Errorf("factory() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnknownErrorIsOnlyErrUnknown(t *testing.T) {
	err := &registry.UnknownError{What: "compute driver", Name: "x"}
	if errors.Is(err, io.EOF) {
		t.Error("UnknownError matches io.EOF")
	}
}

func TestNamesSorted(t *testing.T) {
	r := registry.New[factory]("compute driver")
	if got := r.Names(); len(got) != 0 {
		t.Fatalf("Names() of an empty registry = %v", got)
	}
	for _, n := range []string{"zeta", "alpha", "process", "fake"} {
		r.Register(n, func() string { return n })
	}
	want := []string{"alpha", "fake", "process", "zeta"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := registry.New[factory]("compute driver")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			name := fmt.Sprintf("d%02d", i)
			r.Register(name, func() string { return name })
			if _, err := r.Lookup(name); err != nil {
				t.Errorf("Lookup(%q): %v", name, err)
			}
			_ = r.Names()
			_, _ = r.Lookup("missing")
		})
	}
	wg.Wait()
	if got := len(r.Names()); got != 16 {
		t.Fatalf("len(Names()) = %d, want 16", got)
	}
}
