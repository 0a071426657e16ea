package worker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/novaflow/novaflow/testenv"
)

// TestDefaultConfig keeps DefaultConfig equal to the default tags of Config:
// a tag or a value changed on one side only fails here (and
// TestConfigurationDocs in cmd/novaflow keeps docs/configuration.md equal
// to both).
func TestDefaultConfig(t *testing.T) {
	var fromTags Config
	if err := Env(nil).Decode(&fromTags); err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(fromTags, want) {
		t.Errorf("Config from its default tags:\n%+v\nDefaultConfig():\n%+v", fromTags, want)
	}
	if err := func() Config { c := DefaultConfig(); c.Host = "h1"; return c }().Validate(); err != nil {
		t.Errorf("DefaultConfig with a host does not validate: %v", err)
	}
}

func TestLoadEnv(t *testing.T) {
	env, err := LoadEnv([]string{"A=1", "B=x=y", "A=2", "NOVAFLOW_EMPTY=", "junk"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Env{"A": "2", "B": "x=y", "NOVAFLOW_EMPTY": ""}); !reflect.DeepEqual(env, want) {
		t.Errorf("LoadEnv = %v, want %v", env, want)
	}
	if v, ok := env.Lookup("NOVAFLOW_EMPTY"); !ok || v != "" {
		t.Errorf("Lookup of a variable set empty = %q, %t", v, ok)
	}
}

// TestConfigFileLineRemoved: a line removed from NOVAFLOW_CONFIG_FILE is no
// longer in force at the next load (SIGHUP): the setting is back to its
// environment value or its default. Nothing is written to the process's
// environment.
func TestConfigFileLineRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "novaflow.env")
	write := func(content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	environ := []string{"NOVAFLOW_CONFIG_FILE=" + path, "NOVAFLOW_HOST=h1", "NOVAFLOW_LOG_LEVEL=warn"}
	load := func() Config {
		t.Helper()
		env, err := LoadEnv(environ)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(env)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	write("# the file wins over the environment\nNOVAFLOW_REPORT_INTERVAL=3s\nNOVAFLOW_LOG_LEVEL='debug'\n")
	if cfg := load(); cfg.ReportInterval != 3*time.Second || cfg.LogLevel != "debug" {
		t.Fatalf("with the lines: report interval %s, log level %s; want 3s, debug", cfg.ReportInterval, cfg.LogLevel)
	}
	write("# both lines removed\n")
	if cfg := load(); cfg.ReportInterval != DefaultConfig().ReportInterval || cfg.LogLevel != "warn" {
		t.Fatalf("without the lines: report interval %s, log level %s; want the default 10s and the environment's warn", cfg.ReportInterval, cfg.LogLevel)
	}
	if _, set := os.LookupEnv("NOVAFLOW_REPORT_INTERVAL"); set {
		t.Error("NOVAFLOW_REPORT_INTERVAL was set in the process's environment")
	}

	write("NOVAFLOW_REPORT_INTERVAL=ten\n")
	env, err := LoadEnv(environ)
	if err == nil {
		_, err = LoadConfig(env)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_REPORT_INTERVAL" {
		t.Errorf("a bad value in the file: %v, want a *ConfigError naming NOVAFLOW_REPORT_INTERVAL", err)
	}
	write("REPORT_INTERVAL=1s\n")
	if _, err := LoadEnv(environ); !errors.As(err, &ce) || ce.Setting != "NOVAFLOW_CONFIG_FILE" {
		t.Errorf("a line that is not NOVAFLOW_NAME=value: %v, want a *ConfigError naming NOVAFLOW_CONFIG_FILE", err)
	}
}

// TestResetLogLevel: a reset to NOVAFLOW_LOG_LEVEL=debug makes the running
// process's logger write debug lines, and a reset back to info stops them.
func TestResetLogLevel(t *testing.T) {
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.LogLevel = "info"
	logs := newLogBuffer(t)
	level := new(slog.LevelVar)
	logger := NewLogger(logs, cfg, level)
	env := Env{"NOVAFLOW_LOG_LEVEL": "info"}
	svc := h.startWith(cfg, Options{Logger: logger, LogLevel: level, Reload: func() (Env, error) { return env, nil }})

	logger.Debug("before the reset")
	if n := logs.count("before the reset"); n != 0 {
		t.Fatalf("a debug line at level info was logged")
	}
	env = Env{"NOVAFLOW_LOG_LEVEL": "debug"}
	if err := svc.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	logger.Debug("after the reset")
	if n := logs.count("level=DEBUG", "after the reset"); n != 1 {
		t.Errorf("after a reset to debug: %d debug lines, want 1", n)
	}
	if svc.Config().LogLevel != "debug" {
		t.Errorf("Config().LogLevel = %q, want debug", svc.Config().LogLevel)
	}
	env = Env{"NOVAFLOW_LOG_LEVEL": "info"}
	if err := svc.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	logger.Debug("back to info")
	if n := logs.count("back to info"); n != 0 {
		t.Errorf("after a reset to info: a debug line was logged")
	}
}

// TestUnprefixedVariablesAreIgnored: a variable set for another program
// (LOG_LEVEL, HOST) does not change a service; only NOVAFLOW_* do, and
// DATABASE_URL when NOVAFLOW_DATABASE_URL is unset.
func TestUnprefixedVariablesAreIgnored(t *testing.T) {
	env := Env{"LOG_LEVEL": "trace", "HOST": "other", "REPORT_INTERVAL": "1s", "NOVAFLOW_HOST": "h1", "DATABASE_URL": "postgres://db/x"}
	cfg, err := LoadConfig(env)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.LogLevel != "info" || cfg.Host != "h1" || cfg.ReportInterval != DefaultConfig().ReportInterval {
		t.Errorf("unprefixed variables applied: level %q, host %q, report interval %s", cfg.LogLevel, cfg.Host, cfg.ReportInterval)
	}
	if cfg.DatabaseURL != "postgres://db/x" {
		t.Errorf("DATABASE_URL not read: %q", cfg.DatabaseURL)
	}
}
