// Package dns is the driver kind of the example dns service: a DNS backend
// on one host (a zone file, a DNS server's API) that serves the records the
// dns manager keeps. Drivers register by name and NOVAFLOW_DNS_DRIVER picks
// one; every driver passes the contract suite in package dnstest.
package dns

import (
	"context"
	"errors"

	"github.com/novaflow/novaflow/drivers"
)

// Record is a resource record as a backend serves it.
type Record struct {
	Name  string // lower case, without the final dot: www.example.org
	Type  string // A, AAAA, CNAME or TXT
	Value string
	TTL   int // seconds
}

// Driver is one host's DNS backend. A record is identified by its name,
// type and value.
type Driver interface {
	// Publish serves r; publishing a record that is served again sets its TTL.
	Publish(ctx context.Context, r Record) error
	// Withdraw stops serving the record of r's name, type and value; one
	// that is not served is no error (a retried request).
	Withdraw(ctx context.Context, r Record) error
	// List returns the records served, sorted by name, type and value.
	List(ctx context.Context) ([]Record, error)
	// Close releases the driver; the backend keeps its records. After Close
	// every call fails with ErrClosed; Close itself is idempotent.
	Close() error
}

// Config is what a driver is opened with.
type Config struct {
	Host    string            // the host whose backend it is
	Options map[string]string // NOVAFLOW_DNS_DRIVER_OPTIONS
}

// ErrClosed is the error of a call on a closed driver.
var ErrClosed = errors.New("dns driver closed")

var registry = drivers.NewRegistry[Driver, Config]("dns")

// Register makes a driver available under name; call it from init.
func Register(name string, open func(Config) (Driver, error)) { registry.Register(name, open) }

// Open opens the driver registered under name.
func Open(name string, cfg Config) (Driver, error) { return registry.Open(name, cfg) }
