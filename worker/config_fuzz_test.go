package worker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigFile parses NOVAFLOW_CONFIG_FILE content: it never panics;
// every variable it returns is a NOVAFLOW_ name with a value that can be
// put in the environment; every failure is a *ConfigError naming
// NOVAFLOW_CONFIG_FILE.
func FuzzConfigFile(f *testing.F) {
	f.Add("NOVAFLOW_HOST=node1\n# comment\n\nexport NOVAFLOW_LOG_LEVEL='debug'\n")
	f.Add(`NOVAFLOW_DATABASE_URL="postgres://u:p@h:5432/db?sslmode=verify-full"`)
	f.Add("HOST=x")
	f.Add("NOVAFLOW_X")
	f.Add("NOVAFLOW_A B=1")
	f.Add("NOVAFLOW_X=\"unterminated")
	f.Add("NOVAFLOW_X=a\x00b")
	f.Add(strings.Repeat("NOVAFLOW_REPORT_INTERVAL=1s\n", 100))
	f.Fuzz(func(t *testing.T, content string) {
		vars, err := parseConfigFile(strings.NewReader(content), "novaflow.env")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_CONFIG_FILE" {
				t.Fatalf("error %v is not a *ConfigError naming NOVAFLOW_CONFIG_FILE", err)
			}
			if vars != nil {
				t.Fatalf("variables %v returned with an error", vars)
			}
			return
		}
		for _, kv := range vars {
			if !strings.HasPrefix(kv[0], EnvPrefix+"_") || !validEnvName(kv[0]) {
				t.Fatalf("variable name %q", kv[0])
			}
			if strings.IndexByte(kv[1], 0) >= 0 {
				t.Fatalf("value of %s holds a NUL byte", kv[0])
			}
		}
	})
}

// FuzzSettingValue gives one setting of Config (chosen by index) a value:
// LoadEnv and LoadConfig never panic, and fail only with a *ConfigError naming a
// NOVAFLOW_ setting. A value it accepts passes Validate.
func FuzzSettingValue(f *testing.F) {
	settings := Settings(&Config{})
	for i := range settings {
		f.Add(uint8(i), "")
		f.Add(uint8(i), "-1s")
		f.Add(uint8(i), "true")
		f.Add(uint8(i), "999999999999999999999")
		f.Add(uint8(i), "a:b,c")
		f.Add(uint8(i), "node-1.example")
	}
	f.Fuzz(func(t *testing.T, i uint8, value string) {
		name := settings[int(i)%len(settings)].Name
		if strings.HasSuffix(name, "_FILE") { // the value is the file's content
			path := filepath.Join(t.TempDir(), "setting")
			if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
			value = path
		}
		// Through LoadEnv, which reads NOVAFLOW_CONFIG_FILE.
		env, err := LoadEnv([]string{"NOVAFLOW_HOST=fuzz-host", name + "=" + value})
		var cfg Config
		if err == nil {
			cfg, err = LoadConfig(env)
		}
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Setting, EnvPrefix+"_") {
				t.Fatalf("%s=%q: error %v does not name a setting", name, value, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s=%q: LoadConfig accepted a config that Validate refuses: %v", name, value, err)
		}
	})
}
