package compute_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/compute"
	"github.com/novaflow/novaflow/registry"
)

func validInstance() compute.Instance {
	return compute.Instance{
		UUID:    "0b6f1b8e-6c5e-4bb3-9d47-3b5a9f0c2d11",
		Name:    "vm-1",
		Flavor:  compute.Flavor{Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, DiskGB: 1},
		Command: []string{"sleep", "300"},
		Env:     []string{"A=1", "EMPTY="},
	}
}

func TestInstanceValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*compute.Instance)
		wantErr string // empty: valid
	}{
		{name: "valid", mod: func(*compute.Instance) {}},
		{name: "short uuid", mod: func(i *compute.Instance) { i.UUID = "vm-1" }},
		{name: "zero disk", mod: func(i *compute.Instance) { i.Flavor.DiskGB = 0 }},
		{name: "no env", mod: func(i *compute.Instance) { i.Env = nil }},
		{name: "empty name", mod: func(i *compute.Instance) { i.Name = "" }},
		{name: "empty uuid", mod: func(i *compute.Instance) { i.UUID = "" },
			wantErr: "invalid instance: uuid is empty"},
		{name: "uuid with slash", mod: func(i *compute.Instance) { i.UUID = "../etc" },
			wantErr: `invalid instance: uuid "../etc" has character '/'`},
		{name: "uuid dotdot", mod: func(i *compute.Instance) { i.UUID = ".." },
			wantErr: `invalid instance: uuid ".." is not allowed`},
		{name: "uuid too long", mod: func(i *compute.Instance) { i.UUID = strings.Repeat("a", 129) },
			wantErr: "invalid instance: uuid is longer than 128 characters"},
		{name: "zero vcpus", mod: func(i *compute.Instance) { i.Flavor.VCPUs = 0 },
			wantErr: "invalid instance: flavor.vcpus must be positive, got 0"},
		{name: "negative memory", mod: func(i *compute.Instance) { i.Flavor.MemoryMB = -1 },
			wantErr: "invalid instance: flavor.memory_mb must be positive, got -1"},
		{name: "negative disk", mod: func(i *compute.Instance) { i.Flavor.DiskGB = -5 },
			wantErr: "invalid instance: flavor.disk_gb must not be negative, got -5"},
		{name: "no command", mod: func(i *compute.Instance) { i.Command = nil },
			wantErr: "invalid instance: command is empty"},
		{name: "empty program", mod: func(i *compute.Instance) { i.Command = []string{"", "x"} },
			wantErr: "invalid instance: command[0] is empty"},
		{name: "NUL in argument", mod: func(i *compute.Instance) { i.Command = []string{"sleep", "3\x000"} },
			wantErr: "invalid instance: command[1] contains a NUL byte"},
		{name: "env without =", mod: func(i *compute.Instance) { i.Env = []string{"A=1", "B"} },
			wantErr: `invalid instance: env[1] "B" is not of the form KEY=value`},
		{name: "env empty key", mod: func(i *compute.Instance) { i.Env = []string{"=1"} },
			wantErr: `invalid instance: env[0] "=1" has an empty key`},
		{name: "env NUL", mod: func(i *compute.Instance) { i.Env = []string{"A=\x00"} },
			wantErr: "invalid instance: env[0] contains a NUL byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := validInstance()
			tt.mod(&inst)
			err := inst.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %q, want prefix %q", err, tt.wantErr)
			}
			if !errors.Is(err, compute.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			var ie *compute.InvalidError
			if !errors.As(err, &ie) || ie.Field == "" {
				t.Errorf("errors.As(*InvalidError) = %+v", ie)
			}
		})
	}
}

func TestPowerStateValid(t *testing.T) {
	tests := []struct {
		s    compute.PowerState
		want bool
	}{
		{compute.NoState, true}, {compute.Running, true}, {compute.Paused, true},
		{compute.Shutdown, true}, {compute.Crashed, true}, {compute.Suspended, true},
		{"", false}, {"running", false}, {"SHUTOFF", false},
	}
	for _, tt := range tests {
		if got := tt.s.Valid(); got != tt.want {
			t.Errorf("PowerState(%q).Valid() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// stub is the smallest Driver, to exercise the registry.
type stub struct{ compute.Driver }

var errBoom = errors.New("boom")

// The registry is global: register once per test binary, so that
// go test -count=N works.
func init() {
	compute.Register("compute-test-ok", func(cfg compute.Config) (compute.Driver, error) {
		return stub{}, nil
	})
	compute.Register("compute-test-fails", func(cfg compute.Config) (compute.Driver, error) {
		return nil, errBoom
	})
}

func TestRegisterAndOpen(t *testing.T) {
	if got := compute.Drivers(); !slices.Contains(got, "compute-test-ok") || !slices.IsSorted(got) {
		t.Fatalf("Drivers() = %v, want sorted and containing compute-test-ok", got)
	}

	tests := []struct {
		name    string
		driver  string
		wantErr string
		wantIs  error
	}{
		{name: "ok", driver: "compute-test-ok"},
		{name: "factory fails", driver: "compute-test-fails",
			wantErr: `open compute driver "compute-test-fails": boom`, wantIs: errBoom},
		{name: "unknown", driver: "x",
			wantErr: `unknown compute driver "x" (forgotten import?); registered: compute-test-`,
			wantIs:  registry.ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := compute.Open(tt.driver, compute.Config{Host: "h1"})
			if tt.wantErr == "" {
				if err != nil || d == nil {
					t.Fatalf("Open = %v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("Open error = %v, want prefix %q", err, tt.wantErr)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
		})
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		want := `registry: Register called twice for compute driver "compute-test-ok"`
		if r := recover(); r != want {
			t.Fatalf("panic = %v, want %q", r, want)
		}
	}()
	compute.Register("compute-test-ok", func(compute.Config) (compute.Driver, error) { return stub{}, nil })
}
