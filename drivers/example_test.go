package drivers_test

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/novaflow/novaflow/drivers"
	"github.com/novaflow/novaflow/registry"
)

// DNSDriver is a driver kind: what a DNS manager needs from a backend. The
// interface lives with its consumer (a package drivers/dns), small; optional
// capabilities would be one-method interfaces of their own.
type DNSDriver interface {
	SetRecord(name, address string) error
	Records() ([]string, error)
	Close() error
}

// DNSConfig is what a DNS driver gets when it is opened: filled by the
// manager from its settings (NOVAFLOW_DNS_DRIVER_OPTIONS).
type DNSConfig struct {
	Options map[string]string
}

// dnsDrivers is the kind's registry: the only package-level state. It
// gives the kind its Register and Open, which a package drivers/dns would
// name Register and Open.
var dnsDrivers = drivers.NewRegistry[DNSDriver, DNSConfig]("dns")

// RegisterDNS is what implementations call from their init functions.
func RegisterDNS(name string, open func(DNSConfig) (DNSDriver, error)) {
	dnsDrivers.Register(name, open)
}

// OpenDNS opens the DNS driver registered as name (NOVAFLOW_DNS_DRIVER).
func OpenDNS(name string, cfg DNSConfig) (DNSDriver, error) { return dnsDrivers.Open(name, cfg) }

// memoryDNS is an implementation, as a package drivers/dns/memory would hold
// it: in memory, for tests.
type memoryDNS struct {
	mu      sync.Mutex
	records map[string]string
}

func (m *memoryDNS) SetRecord(name, address string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[name] = address
	return nil
}

func (m *memoryDNS) Records() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for name, addr := range m.records {
		out = append(out, name+" A "+addr)
	}
	sort.Strings(out)
	return out, nil
}

func (m *memoryDNS) Close() error { return nil }

// The implementation registers itself; a program imports it for effect.
func init() {
	RegisterDNS("memory", func(DNSConfig) (DNSDriver, error) {
		return &memoryDNS{records: map[string]string{}}, nil
	})
}

// This example declares a driver kind with a Registry, registers an
// implementation by name and opens drivers by the configured name, as
// database/sql does. An unknown name fails listing the registered ones.
func Example() {
	d, err := OpenDNS("memory", DNSConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	_ = d.SetRecord("vm-1.example.", "192.0.2.10")
	records, _ := d.Records()
	fmt.Println(records)

	_, err = OpenDNS("bind", DNSConfig{})
	fmt.Println(err)
	fmt.Println(errors.Is(err, registry.ErrUnknown))
	// Output:
	// [vm-1.example. A 192.0.2.10]
	// unknown dns driver "bind" (forgotten import?); registered: memory
	// true
}
