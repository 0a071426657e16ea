package managers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/novaflow/novaflow/managers"
	"github.com/novaflow/novaflow/servicegroup"
)

// plain implements no hook.
type plain struct{}

func (plain) RPCMethods() []managers.Method {
	return []managers.Method{managers.NewMethod("ping", "1.0", func(context.Context, struct{}) (string, error) { return "pong", nil })}
}
func (plain) PeriodicTasks() []managers.PeriodicTask { return nil }

// hooked implements every lifecycle hook.
type hooked struct{ plain }

func (*hooked) InitHost(context.Context, *servicegroup.Record) error     { return nil }
func (*hooked) PreStartHook(context.Context, *servicegroup.Record) error { return nil }
func (*hooked) PostStartHook(context.Context) error                      { return nil }
func (*hooked) CleanupHost(context.Context) error                        { return nil }
func (*hooked) Reset(context.Context) error                              { return nil }

// misspelt has hooks whose signatures are not the hooks'.
type misspelt struct{ plain }

func (*misspelt) InitHost(context.Context) error                   { return nil }
func (*misspelt) CleanupHost(context.Context, time.Duration) error { return nil }
func (*misspelt) Reset(context.Context)                            {}

// valueHooked declares a hook on its pointer but is handed over as a value.
type valueHooked struct{ plain }

func (*valueHooked) PostStartHook(context.Context) error { return nil }

func TestCheckHooks(t *testing.T) {
	tests := []struct {
		name string
		m    managers.Manager
		want []string // substrings of the error; none: no error
	}{
		{name: "no hooks", m: plain{}},
		{name: "every hook", m: &hooked{}},
		{name: "wrong signatures", m: &misspelt{}, want: []string{
			"manager *managers_test.misspelt: method InitHost is func(context.Context) error, want func(context.Context, *servicegroup.Record) error to implement managers.InitHoster",
			"method CleanupHost is func(context.Context, time.Duration) error, want func(context.Context) error to implement managers.CleanupHoster",
			"method Reset is func(context.Context), want func(context.Context) error to implement managers.Resetter",
		}},
		{name: "pointer hook on a value", m: valueHooked{}, want: []string{
			"manager managers_test.valueHooked: method PostStartHook has a pointer receiver, so it is never called on a managers_test.valueHooked value: return a *managers_test.valueHooked",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := managers.CheckHooks(tt.m)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckHooks = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckHooks = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckHooks =\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

func TestMethodByName(t *testing.T) {
	meth, ok := managers.MethodByName(plain{}, "ping")
	if !ok || meth.Name != "ping" {
		t.Fatalf("MethodByName(ping) = %+v, %v", meth, ok)
	}
	out, err := meth.Call(t.Context(), []byte(`{}`))
	if err != nil || string(out) != `"pong"` {
		t.Fatalf("ping = %s, %v", out, err)
	}
	if _, ok := managers.MethodByName(plain{}, "pong"); ok {
		t.Fatal("MethodByName(pong) found a method")
	}
}
