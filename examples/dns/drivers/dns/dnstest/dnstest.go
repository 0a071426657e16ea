// Package dnstest is the contract of DNS drivers: every driver, the fake
// included, runs Run from its tests.
package dnstest

import (
	"errors"
	"slices"
	"testing"

	"github.com/novaflow/novaflow/examples/dns/drivers/dns"
)

// Run checks the driver that open returns (a new, empty one per call)
// against the contract of dns.Driver.
func Run(t *testing.T, open func(t *testing.T) dns.Driver) {
	www := dns.Record{Name: "www.example.org", Type: "A", Value: "192.0.2.1", TTL: 300}
	www2 := dns.Record{Name: "www.example.org", Type: "A", Value: "192.0.2.2", TTL: 300}
	mail := dns.Record{Name: "mail.example.org", Type: "AAAA", Value: "2001:db8::1", TTL: 60}
	list := func(t *testing.T, d dns.Driver, want ...dns.Record) {
		t.Helper()
		got, err := d.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
	}
	t.Run("PublishListsSorted", func(t *testing.T) {
		d := open(t)
		for _, r := range []dns.Record{www2, mail, www} {
			if err := d.Publish(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		list(t, d, mail, www, www2)
	})
	t.Run("PublishAgainSetsTTL", func(t *testing.T) {
		d := open(t)
		longer := www
		longer.TTL = 3600
		for _, r := range []dns.Record{www, longer} {
			if err := d.Publish(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		list(t, d, longer)
	})
	t.Run("WithdrawIsIdempotent", func(t *testing.T) {
		d := open(t)
		if err := d.Publish(t.Context(), www); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := d.Withdraw(t.Context(), www); err != nil {
				t.Fatal(err)
			}
		}
		list(t, d)
	})
	t.Run("Closed", func(t *testing.T) {
		d := open(t)
		for range 2 {
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Publish(t.Context(), www); !errors.Is(err, dns.ErrClosed) {
			t.Fatalf("Publish after Close: %v, want dns.ErrClosed", err)
		}
		if _, err := d.List(t.Context()); !errors.Is(err, dns.ErrClosed) {
			t.Fatalf("List after Close: %v, want dns.ErrClosed", err)
		}
	})
}
