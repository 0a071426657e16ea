package drivers_test

import (
	"errors"
	"testing"

	"github.com/novaflow/novaflow/drivers"
	"github.com/novaflow/novaflow/registry"
)

type greeter interface{ Greet() string }

type greeting string

func (g greeting) Greet() string { return string(g) }

var errRefused = errors.New("refused")

func TestOpen(t *testing.T) {
	r := drivers.NewRegistry[greeter, string]("greeting")
	r.Register("plain", func(name string) (greeter, error) { return greeting("hello " + name), nil })
	r.Register("refusing", func(string) (greeter, error) { return nil, errRefused })

	tests := []struct {
		name, driver string
		want         string
		wantErr      string
		wantIs       error
	}{
		{name: "opens with its config", driver: "plain", want: "hello h1"},
		{name: "open fails", driver: "refusing",
			wantErr: `open greeting driver "refusing": refused`, wantIs: errRefused},
		{name: "unknown", driver: "x",
			wantErr: `unknown greeting driver "x" (forgotten import?); registered: plain, refusing`,
			wantIs:  registry.ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := r.Open(tt.driver, "h1")
			if tt.wantErr == "" {
				if err != nil || d.Greet() != tt.want {
					t.Fatalf("Open = %v, %v; want %q", d, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, tt.wantIs) {
				t.Fatalf("Open error = %v, want %q matching %v", err, tt.wantErr, tt.wantIs)
			}
			if d != nil {
				t.Errorf("driver = %v with an error, want nil", d)
			}
		})
	}
	if got := r.Kind(); got != "greeting" {
		t.Errorf("Kind() = %q", got)
	}
}

func TestRegisterNilPanics(t *testing.T) {
	defer func() {
		want := `registry: Register greeting driver "nil" is nil`
		if r := recover(); r != want {
			t.Fatalf("panic = %v, want %q", r, want)
		}
	}()
	drivers.NewRegistry[greeter, string]("greeting").Register("nil", nil)
}
