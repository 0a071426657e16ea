package managers

import (
	"context"
	"testing"
)

type hostless struct {
	Name string `json:"name" required:"true"`
}

type hosted struct {
	Host string `json:"host"`
	Name string `json:"name"`
}

func TestDecodeHostField(t *testing.T) {
	noHost := NewMethod("a", "1.0", func(ctx context.Context, r hostless) (hostless, error) { return r, nil })
	withHost := NewMethod("b", "1.0", func(ctx context.Context, r hosted) (hosted, error) { return r, nil })

	if noHost.Declares(HostField) || !withHost.Declares(HostField) || !withHost.Declares("name") || noHost.Declares("Name") {
		t.Fatal("Declares is wrong")
	}
	out, err := noHost.Call(context.Background(), []byte(`{"name":"x","host":"h1"}`))
	if err != nil || string(out) != `{"name":"x"}` {
		t.Errorf("host is dropped for a method without it: %s, %v", out, err)
	}
	out, err = withHost.Call(context.Background(), []byte(`{"name":"x","host":"h1"}`))
	if err != nil || string(out) != `{"host":"h1","name":"x"}` {
		t.Errorf("host is kept for a method that declares it: %s, %v", out, err)
	}
	_, err = noHost.Call(context.Background(), []byte(`{"name":"x","hosts":"h1"}`))
	if e, ok := AsError(err); !ok || e.Type != InvalidArgumentType || e.Field != "hosts" {
		t.Errorf("other unknown fields still fail: %v", err)
	}
	_, err = noHost.Call(context.Background(), []byte(`{"host":"h1"}`))
	if e, ok := AsError(err); !ok || e.Field != "name" {
		t.Errorf("required fields are still checked: %v", err)
	}
}

func TestVersions(t *testing.T) {
	m := NewMethod("m", "2.3", func(ctx context.Context, r hostless) (hostless, error) { return r, nil })
	tests := []struct {
		want string
		ok   bool
	}{
		{"", true}, {"2.3", true}, {"2.0", true}, {"2.4", false}, {"1.9", false}, {"3.0", false}, {"x", false},
	}
	for _, tt := range tests {
		err := m.Supports(tt.want)
		if (err == nil) != tt.ok {
			t.Errorf("Supports(%q) = %v, want ok=%v", tt.want, err, tt.ok)
		}
		if e, isTyped := AsError(err); err != nil && (!isTyped || e.Type != UnsupportedVersionType) {
			t.Errorf("Supports(%q) = %v, want an UnsupportedVersion error", tt.want, err)
		}
	}
	cmps := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.2", "1.10", -1}, {"2.0", "1.9", 1}, {"0.1", "0.0", 1},
	}
	for _, tt := range cmps {
		if got, err := CompareVersions(tt.a, tt.b); err != nil || got != tt.want {
			t.Errorf("CompareVersions(%s, %s) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := CompareVersions("1", "1.0"); err == nil {
		t.Error("CompareVersions accepted 1")
	}
}
