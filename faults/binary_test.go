package faults

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildNovaflow builds ./cmd/novaflow into a temporary directory of t and
// returns its path. The tests that run it are subtests of one test, so that
// it is linked once.
func buildNovaflow(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "novaflow")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/novaflow/novaflow/cmd/novaflow")
	cmd.Dir = ".." // the module's root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the novaflow binary: %v\n%s", err, out)
	}
	return path
}

// runNovaflow runs the novaflow binary bin with args and env (on top of this
// environment less every NOVAFLOW_, DATABASE_URL and OTEL_ variable) in an
// empty directory, and returns its exit code, stdout and stderr. It fails
// the test if the command runs longer than timeout.
func runNovaflow(t testing.TB, bin string, env map[string]string, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv(env)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("novaflow %s: still running after %s\nstderr: %s", strings.Join(args, " "), timeout, stderr.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("novaflow %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// cleanEnv is this process's environment without novaflow's settings, with
// env added.
func cleanEnv(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOVAFLOW_") && !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			out = append(out, kv)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
