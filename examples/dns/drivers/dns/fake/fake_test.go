package fake_test

import (
	"testing"

	"github.com/novaflow/novaflow/examples/dns/drivers/dns"
	"github.com/novaflow/novaflow/examples/dns/drivers/dns/dnstest"
	"github.com/novaflow/novaflow/examples/dns/drivers/dns/fake"
)

func TestContract(t *testing.T) {
	dnstest.Run(t, func(t *testing.T) dns.Driver {
		d, err := dns.Open(fake.Name, dns.Config{Host: "host-1"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
