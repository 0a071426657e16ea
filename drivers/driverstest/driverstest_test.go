package driverstest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/drivers/driverstest"
)

// writeTree writes files (path: content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A user's module with a dns driver kind and its memory driver.
var (
	goMod = "module example.com/dnssvc\n\ngo 1.26\n"
	kind  = `package dns

import "github.com/novaflow/novaflow/drivers"

type Driver interface{ Close() error }
type Config struct{}

var registry = drivers.NewRegistry[Driver, Config]("dns")

func Register(name string, open func(Config) (Driver, error)) { registry.Register(name, open) }
`
	suite = `package dnstest

import "testing"

func Run(t *testing.T, open func(t *testing.T) any) {}
`
	memory = `package memory

import dnsdriver "example.com/dnssvc/dns"

func init() { dnsdriver.Register("memory", nil) }
`
	memoryTest = `package memory_test

import (
	"testing"

	"example.com/dnssvc/dns/dnstest"
)

func TestContract(t *testing.T) { dnstest.Run(t, nil) }
`
	memoryOtherTest = `package memory_test

import "testing"

func TestSomethingElse(t *testing.T) {}
`
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		drivers []string // of kind example.com/dnssvc/dns
		wantErr []string
	}{
		{
			name: "kind with suite, driver runs it",
			files: map[string]string{"go.mod": goMod, "dns/dns.go": kind, "dns/dnstest/dnstest.go": suite,
				"dns/memory/memory.go": memory, "dns/memory/memory_test.go": memoryTest},
			drivers: []string{"example.com/dnssvc/dns/memory"},
		},
		{
			name: "kind without suite",
			files: map[string]string{"go.mod": goMod, "dns/dns.go": kind,
				"dns/memory/memory.go": memory, "dns/memory/memory_test.go": memoryOtherTest},
			drivers: []string{"example.com/dnssvc/dns/memory"},
			wantErr: []string{
				"driver kind example.com/dnssvc/dns has no contract suite: want package example.com/dnssvc/dns/dnstest with a func Run",
				"dns driver example.com/dnssvc/dns/memory does not run its contract tests: no test of it calls dnstest.Run",
			},
		},
		{
			name: "driver that skips the suite",
			files: map[string]string{"go.mod": goMod, "dns/dns.go": kind, "dns/dnstest/dnstest.go": suite,
				"dns/memory/memory.go": memory, "dns/memory/memory_test.go": memoryOtherTest},
			drivers: []string{"example.com/dnssvc/dns/memory"},
			wantErr: []string{"dns driver example.com/dnssvc/dns/memory does not run its contract tests"},
		},
		{
			name: "driver without tests",
			files: map[string]string{"go.mod": goMod, "dns/dns.go": kind, "dns/dnstest/dnstest.go": suite,
				"dns/memory/memory.go": memory},
			drivers: []string{"example.com/dnssvc/dns/memory"},
			wantErr: []string{"dns driver example.com/dnssvc/dns/memory does not run its contract tests"},
		},
		{
			name: "suite without Run",
			files: map[string]string{"go.mod": goMod, "dns/dns.go": kind, "dns/dnstest/dnstest.go": "package dnstest\n",
				"dns/memory/memory.go": memory, "dns/memory/memory_test.go": memoryTest},
			drivers: []string{"example.com/dnssvc/dns/memory"},
			wantErr: []string{"driver kind example.com/dnssvc/dns has no contract suite"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kinds, err := driverstest.Check(writeTree(t, tt.files))
			if len(kinds) != 1 || kinds[0].Path != "example.com/dnssvc/dns" || strings.Join(kinds[0].Drivers, ",") != strings.Join(tt.drivers, ",") {
				t.Errorf("kinds = %+v, want example.com/dnssvc/dns with %v", kinds, tt.drivers)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check = nil, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check =\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

func TestCheckWithoutModule(t *testing.T) {
	if _, err := driverstest.Check(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Fatalf("Check outside a module = %v, want no go.mod", err)
	}
}
