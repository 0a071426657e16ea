package envconf

import (
	"errors"
	"net"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

type inner struct {
	Level string `envconfig:"LEVEL" default:"info"`
}

type embedded struct {
	Zone string `envconfig:"ZONE"`
}

type spec struct {
	embedded
	Name       string            `envconfig:"NAME" default:"novaflow"`
	Enabled    bool              `envconfig:"ENABLED" default:"true"`
	Count      int               `envconfig:"COUNT" default:"3"`
	Small      int8              `envconfig:"SMALL"`
	Big        uint64            `envconfig:"BIG"`
	Ratio      float64           `envconfig:"RATIO" default:"0.5"`
	Interval   time.Duration     `envconfig:"INTERVAL" default:"10s"`
	Options    map[string]string `envconfig:"OPTIONS"`
	Hosts      []string          `envconfig:"HOSTS"`
	Ports      []int             `envconfig:"PORTS"`
	IP         net.IP            `envconfig:"IP"`
	When       time.Time         `envconfig:"WHEN"`
	Limit      *int              `envconfig:"LIMIT"`
	Log        inner             `envconfig:"LOG"`
	SplitWords string            `split_words:"true"`
	Plain      string
	Skipped    string `envconfig:"SKIPPED" ignored:"true"`
	unexported string //nolint:unused // must be left alone
}

// TestParityWithEnvconfig fills the same struct from the same process
// environment with envconfig and with Process: the results are equal.
func TestParityWithEnvconfig(t *testing.T) {
	cases := []map[string]string{
		{},
		{"T_NAME": "x", "T_ENABLED": "false", "T_COUNT": "0x10", "T_SMALL": "-7", "T_BIG": "18446744073709551615",
			"T_RATIO": "2.5", "T_INTERVAL": "1m30s", "T_OPTIONS": "a:1,b:2", "T_HOSTS": "h1,h2", "T_PORTS": "1,2",
			"T_IP": "10.0.0.1", "T_WHEN": "2024-01-02T03:04:05Z", "T_LIMIT": "9", "T_LOG_LEVEL": "debug",
			"T_SPLIT_WORDS": "s", "T_PLAIN": "p", "T_SKIPPED": "no", "T_ZONE": "z"},
		// The unprefixed name is read when the prefixed one is unset.
		{"NAME": "alt", "INTERVAL": "2s"},
		{"T_NAME": "prefixed", "NAME": "alt"},
		// Set but empty is set.
		{"T_NAME": "", "T_OPTIONS": "", "T_HOSTS": " "},
	}
	for _, env := range cases {
		for k, v := range env {
			t.Setenv(k, v)
		}
		var want, got spec
		errWant := envconfig.Process("T", &want)
		errGot := Process("T", &got, os.LookupEnv)
		if errWant != nil || errGot != nil {
			t.Fatalf("env %v: envconfig: %v, Process: %v", env, errWant, errGot)
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("env %v:\nenvconfig %+v\nProcess   %+v", env, want, got)
		}
		for k := range env {
			os.Unsetenv(k)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ key, value, typ string }{
		{"T_INTERVAL", "ten", "time.Duration"},
		{"T_ENABLED", "maybe", "bool"},
		{"T_COUNT", "three", "int"},
		{"T_SMALL", "300", "int8"},
		{"T_OPTIONS", "a=1", "map[string]string"},
		{"T_PORTS", "1,x", "[]int"},
		{"T_IP", "nope", "net.IP"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			t.Setenv(c.key, c.value)
			var envErr *envconfig.ParseError
			if err := envconfig.Process("T", &spec{}); !errors.As(err, &envErr) {
				t.Fatalf("envconfig: %v, want a ParseError", err)
			}
			err := Process("T", &spec{}, os.LookupEnv)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Process: %v, want a *ParseError", err)
			}
			if pe.Key != envErr.KeyName || pe.Value != envErr.Value || pe.Type != envErr.TypeName || pe.Field != envErr.FieldName {
				t.Errorf("Process: %+v, envconfig: %+v", pe, envErr)
			}
			if pe.Type != c.typ {
				t.Errorf("Type = %q, want %q", pe.Type, c.typ)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	type req struct {
		URL  string `envconfig:"URL" required:"true"`
		Mode string `envconfig:"MODE" required:"true" default:"auto"`
	}
	var r req
	err := Process("T", &r, func(string) (string, bool) { return "", false })
	var me *MissingError
	if !errors.As(err, &me) || me.Key != "URL" {
		t.Fatalf("Process = %v, want a *MissingError for URL (envconfig names the unprefixed key)", err)
	}
	if err := Process("T", &r, lookupMap(map[string]string{"T_URL": "u"})); err != nil || r.URL != "u" || r.Mode != "auto" {
		t.Fatalf("Process = %v, %+v", err, r)
	}
}

func TestDefaultsAndLookup(t *testing.T) {
	var s spec
	if err := Defaults(&s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "novaflow" || !s.Enabled || s.Count != 3 || s.Interval != 10*time.Second || s.Log.Level != "info" || s.Options != nil {
		t.Errorf("Defaults = %+v", s)
	}
	// A lookup, not the process environment.
	t.Setenv("T_NAME", "from the process")
	if err := Process("T", &s, lookupMap(map[string]string{"T_COUNT": "5"})); err != nil {
		t.Fatal(err)
	}
	if s.Name != "novaflow" || s.Count != 5 {
		t.Errorf("Process = %+v", s)
	}
}

func TestInvalidSpec(t *testing.T) {
	for _, s := range []any{nil, spec{}, new(int), (*spec)(nil)} {
		if err := Process("T", s, nil); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Process(%T) = %v, want ErrInvalidSpec", s, err)
		}
	}
	type bad struct {
		C chan int `envconfig:"C" default:"1"`
	}
	if err := Defaults(&bad{}); err == nil {
		t.Error("Defaults of a chan field: no error")
	}
}

func lookupMap(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
