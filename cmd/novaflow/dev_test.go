package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/novaflow/novaflow/testenv"
)

// TestDevRefusesTakenPorts: with one of its ports taken, `novaflow dev`
// exits 1 before it starts anything, with one line naming the port, the
// flag that moves it and, for Temporal's, NOVAFLOW_TEMPORAL_ADDRESS.
func TestDevRefusesTakenPorts(t *testing.T) {
	for _, k := range []string{"NOVAFLOW_DATABASE_URL", "DATABASE_URL", "NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE", "NOVAFLOW_HEALTH_ADDRESS", "NOVAFLOW_CONFIG_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Chdir(t.TempDir()) // no dev stack is found from here
	for _, c := range []struct {
		taken, flag string
		temporal    bool
	}{
		{"temporal", "--temporal-port", true},
		{"ui", "--ui-port", true},
		{"postgres", "--postgres-port", false},
		{"health", "--health-address", false},
	} {
		t.Run(c.taken, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			taken := l.Addr().(*net.TCPAddr).Port
			ports := map[string]int{"temporal": testenv.FreePort(t), "ui": testenv.FreePort(t), "postgres": testenv.FreePort(t), "health": testenv.FreePort(t)}
			ports[c.taken] = taken
			dir := filepath.Join(t.TempDir(), ".novaflow")
			code, stdout, stderr := run(t, "dev", "--dir", dir,
				"--temporal-port", strconv.Itoa(ports["temporal"]), "--ui-port", strconv.Itoa(ports["ui"]),
				"--postgres-port", strconv.Itoa(ports["postgres"]), "--health-address", fmt.Sprintf("127.0.0.1:%d", ports["health"]))
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			msg := strings.TrimSpace(stderr)
			if strings.Count(msg, "\n") > 0 || !strings.Contains(msg, fmt.Sprintf("port %d", taken)) || !strings.Contains(msg, "is taken") || !strings.Contains(msg, c.flag) {
				t.Errorf("stderr %q: want one line naming port %d as taken and %s", msg, taken, c.flag)
			}
			if got := strings.Contains(msg, "NOVAFLOW_TEMPORAL_ADDRESS="); got != c.temporal {
				t.Errorf("stderr %q names NOVAFLOW_TEMPORAL_ADDRESS: %v, want %v", msg, got, c.temporal)
			}
			if stdout != "" {
				t.Errorf("stdout %q: want nothing started", stdout)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s: %v, want no data folder (nothing started)", dir, err)
			}
		})
	}
}
