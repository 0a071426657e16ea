package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/worker"
)

// TestDevTemporalGiven: novaflow dev uses a Temporal of the user's when it
// is chosen on purpose, never because the temporal CLI's default file has a
// default profile (often a production or Temporal Cloud namespace).
func TestDevTemporalGiven(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, ".config", "temporalio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(file, []byte("[profile.default]\naddress = \"prod.example:7233\"\nnamespace = \"prod\"\n\n[profile.staging]\naddress = \"staging.example:7233\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := worker.Env{"HOME": home, "NOVAFLOW_DATABASE_URL": "postgres://x@127.0.0.1/x"}
	for _, c := range []struct {
		name     string
		env      worker.Env
		external bool
		ignored  string
	}{
		{"the default profile of the default file", base, false, "prod.example:7233"},
		{"nothing at all", worker.Env{"HOME": t.TempDir(), "NOVAFLOW_DATABASE_URL": "postgres://x@127.0.0.1/x"}, false, ""},
		{"--profile default", base.With("TEMPORAL_PROFILE=default"), true, ""},
		{"a profile named", base.With("TEMPORAL_PROFILE=staging"), true, ""},
		{"the file given", base.With("TEMPORAL_CONFIG_FILE=" + file), true, ""},
		{"TEMPORAL_ADDRESS", base.With("TEMPORAL_ADDRESS=127.0.0.1:7233"), true, ""},
		{"NOVAFLOW_TEMPORAL_ADDRESS", base.With("NOVAFLOW_TEMPORAL_ADDRESS=127.0.0.1:7233"), true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := worker.LoadConfig(c.env)
			if err != nil {
				t.Fatal(err)
			}
			external, ignored := devTemporalGiven(c.env, cfg)
			if external != c.external || (c.ignored == "") != (ignored == "") || !strings.Contains(ignored, c.ignored) {
				t.Errorf("external %v, ignored %q; want %v and a line naming %q", external, ignored, c.external, c.ignored)
			}
		})
	}
}
