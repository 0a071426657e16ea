// Package fake is an in-memory DNS driver, registered as "fake": for tests
// and for trying the dns service. Its records last as long as the process.
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/novaflow/novaflow/examples/dns/drivers/dns"
)

// Name is the driver's registered name.
const Name = "fake"

func init() {
	dns.Register(Name, func(cfg dns.Config) (dns.Driver, error) {
		if len(cfg.Options) > 0 {
			return nil, fmt.Errorf("the fake driver takes no options, got %v", cfg.Options)
		}
		return New(), nil
	})
}

// Driver keeps records in memory.
type Driver struct {
	mu      sync.Mutex
	records map[string]dns.Record // by key
	closed  bool
}

// New returns an empty driver.
func New() *Driver { return &Driver{records: map[string]dns.Record{}} }

func key(r dns.Record) string { return r.Name + "\x00" + r.Type + "\x00" + r.Value }

// do runs f under the lock, or fails with dns.ErrClosed.
func (d *Driver) do(f func()) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return dns.ErrClosed
	}
	f()
	return nil
}

// Publish serves r.
func (d *Driver) Publish(_ context.Context, r dns.Record) error {
	return d.do(func() { d.records[key(r)] = r })
}

// Withdraw stops serving r.
func (d *Driver) Withdraw(_ context.Context, r dns.Record) error {
	return d.do(func() { delete(d.records, key(r)) })
}

// List returns the records, sorted by name, type and value.
func (d *Driver) List(context.Context) ([]dns.Record, error) {
	var out []dns.Record
	err := d.do(func() {
		for _, k := range slices.Sorted(maps.Keys(d.records)) {
			out = append(out, d.records[k])
		}
	})
	return out, err
}

// Close closes the driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

var _ dns.Driver = (*Driver)(nil)
