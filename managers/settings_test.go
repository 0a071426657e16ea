package managers_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
)

type dnsSettings struct {
	Driver   string            `envconfig:"DNS_DRIVER" default:"fake"`
	TTL      time.Duration     `envconfig:"DNS_TTL" default:"5m"`
	Zones    int               `envconfig:"DNS_ZONES" default:"2"`
	Enabled  bool              `envconfig:"DNS_ENABLED" default:"true"`
	Options  map[string]string `envconfig:"DNS_OPTIONS"`
	Upstream string            `envconfig:"DNS_UPSTREAM"`
}

func TestDefaults(t *testing.T) {
	got := managers.Defaults[dnsSettings]()
	if got.Driver != "fake" || got.TTL != 5*time.Minute || got.Zones != 2 || !got.Enabled || got.Options != nil || got.Upstream != "" {
		t.Errorf("Defaults = %+v", got)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "BAD") {
			t.Errorf("Defaults of a bad tag: panic %v, want one naming the variable", r)
		}
	}()
	managers.Defaults[struct {
		D time.Duration `envconfig:"BAD" default:"ten"`
	}]()
}

func TestConfigOf(t *testing.T) {
	if got, err := managers.ConfigOf[dnsSettings](managers.Deps{}); err != nil || !reflect.DeepEqual(got, managers.Defaults[dnsSettings]()) {
		t.Errorf("ConfigOf without settings = %+v, %v; want the defaults", got, err)
	}
	own := dnsSettings{Driver: "bind", Zones: 9}
	if got, err := managers.ConfigOf[dnsSettings](managers.Deps{Config: &own}); err != nil || !reflect.DeepEqual(got, own) {
		t.Errorf("ConfigOf = %+v, %v; want %+v", got, err, own)
	}
	if _, err := managers.ConfigOf[dnsSettings](managers.Deps{Config: own}); err == nil ||
		err.Error() != "settings of type managers_test.dnsSettings, want *managers_test.dnsSettings" {
		t.Errorf("ConfigOf of a value, not a pointer: %v", err)
	}
}

func TestCurrentDownTime(t *testing.T) {
	if got := (managers.Deps{}).CurrentDownTime(); got != servicegroup.DefaultServiceDownTime {
		t.Errorf("without the runtime: %s, want %s", got, servicegroup.DefaultServiceDownTime)
	}
	d := time.Minute
	deps := managers.Deps{DownTime: func() time.Duration { return d }}
	if got := deps.CurrentDownTime(); got != time.Minute {
		t.Errorf("CurrentDownTime = %s, want 1m", got)
	}
	d = 2 * time.Minute // it follows the runtime
	if got := deps.CurrentDownTime(); got != 2*time.Minute {
		t.Errorf("CurrentDownTime after a change = %s, want 2m", got)
	}
}

func TestRegisterChecksDefaults(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "settings_test_bad") {
			t.Errorf("Register with a bad default tag: panic %v", r)
		}
	}()
	managers.Register(managers.Definition{
		Name: "settings_test_bad", Topic: "settings_test_bad",
		Config: &struct {
			N int `envconfig:"N" default:"many"`
		}{},
		New: func(managers.Deps) (managers.Manager, error) { return nil, nil },
	})
}
