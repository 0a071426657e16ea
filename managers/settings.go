package managers

import (
	"fmt"
	"reflect"
	"time"

	"github.com/novaflow/novaflow/internal/envconf"
	"github.com/novaflow/novaflow/servicegroup"
)

// Defaults returns T, a manager's settings struct, with the values of its
// `default:` tags: what the runtime fills when no NOVAFLOW_* variable is
// set. A test starts from it and sets only what it needs:
//
//	cfg := managers.Defaults[dns.Settings]()
//	cfg.Driver = "fake"
//	m, err := dns.New(managers.Deps{DB: pool, Config: &cfg})
//
// It panics when a tag does not parse as its field's type, a programming
// error that Register finds when the binary starts.
func Defaults[T any]() T {
	var v T
	if err := envconf.Defaults(&v); err != nil {
		panic(fmt.Sprintf("managers: Defaults[%T]: %v", v, err))
	}
	return v
}

// ConfigOf returns the manager's settings that deps carries: *deps.Config
// when it is a *T, Defaults[T]() when it is nil (a manager built without
// the runtime). A Config of another type is an error naming both types.
//
//	func New(deps managers.Deps) (*Manager, error) {
//		cfg, err := managers.ConfigOf[Settings](deps)
//		if err != nil {
//			return nil, err
//		}
//		...
func ConfigOf[T any](deps Deps) (T, error) {
	switch c := deps.Config.(type) {
	case nil:
		return Defaults[T](), nil
	case *T:
		if c == nil {
			return Defaults[T](), nil
		}
		return *c, nil
	default:
		var want *T
		return *new(T), fmt.Errorf("settings of type %T, want %T", deps.Config, want)
	}
}

// CurrentDownTime is the effective service_down_time now: d.DownTime()
// when the runtime set it, else servicegroup.DefaultServiceDownTime (the
// effective value with the default settings). A manager that judges
// services with servicegroup.IsUp calls it at each judgement, so that it
// judges as the runtime does, SIGHUP included.
func (d Deps) CurrentDownTime() time.Duration {
	if d.DownTime != nil {
		if t := d.DownTime(); t > 0 {
			return t
		}
	}
	return servicegroup.DefaultServiceDownTime
}

// checkDefaults panics when the default tags of a Definition's Config do
// not parse.
func checkDefaults(name string, config any) {
	if config == nil {
		return
	}
	if err := envconf.Defaults(reflect.New(reflect.TypeOf(config).Elem()).Interface()); err != nil {
		panic(fmt.Sprintf("managers: Register: manager %s: Config: %v", name, err))
	}
}
