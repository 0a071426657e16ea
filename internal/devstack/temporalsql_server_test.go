//go:build temporalsql

package devstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTemporalDynamicConfigFilesValidate has the pinned server check the
// dynamic config files novaflow gives it: the one StartTemporalSQL writes
// and the compose stack's. The server reports unknown keys and bad values
// as warnings (and exits 0): any warning fails.
func TestTemporalDynamicConfigFilesValidate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tools, err := BuildTemporalServer(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pg, err := parsePostgresURL("postgres://novaflow@127.0.0.1:5432/novaflow?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	opts := TemporalSQLOptions{PostgresURL: "unused", Dir: dir}
	setTemporalSQLDefaults(&opts)
	if err := writeTemporalSQLConfig(dir, pg, &opts); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(dir, "dynamicconfig.yaml"), filepath.Join("..", "..", "deploy", "compose", "dynamicconfig.yaml")}
	validate := func(file string) string {
		out, err := exec.CommandContext(ctx, tools.Server, "validate-dynamic-config", file).CombinedOutput()
		if err != nil {
			t.Fatalf("validate-dynamic-config %s: %v\n%s", file, err, out)
		}
		return string(out)
	}
	for _, f := range files {
		if out := validate(f); strings.Contains(out, "warning") {
			t.Errorf("%s:\n%s", f, out)
		}
	}
	// It does report mistakes that way.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("history.transferProcessorMaxPollRPS:\n  - value: ten\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := validate(bad); !strings.Contains(out, "warning") {
		t.Errorf("a bad value gave no warning:\n%s", out)
	}
}
