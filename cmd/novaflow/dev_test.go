package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
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
		mode        string // --temporal
	}{
		{"temporal", "--temporal-port", true, temporalDev},
		{"ui", "--ui-port", true, temporalDev},
		{"postgres", "--postgres-port", false, temporalDev},
		{"health", "--health-address", false, temporalDev},
		// On PostgreSQL, Temporal's Web UI is served too (its UI server).
		{"ui", "--ui-port", true, temporalPostgres},
	} {
		t.Run(c.taken+"/"+c.mode, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			taken := l.Addr().(*net.TCPAddr).Port
			ports := map[string]int{"temporal": testenv.FreePort(t), "ui": testenv.FreePort(t), "postgres": testenv.FreePort(t), "health": testenv.FreePort(t)}
			ports[c.taken] = taken
			dir := filepath.Join(t.TempDir(), ".novaflow")
			code, stdout, stderr := run(t, "dev", "--dir", dir, "--temporal", c.mode,
				"--temporal-port", strconv.Itoa(ports["temporal"]), "--ui-port", strconv.Itoa(ports["ui"]),
				"--postgres-port", strconv.Itoa(ports["postgres"]), "--health-address", fmt.Sprintf("127.0.0.1:%d", ports["health"]))
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			msg := strings.TrimSpace(stderr)
			if strings.Count(msg, "\n") > 0 || !strings.Contains(msg, fmt.Sprintf("port %d", taken)) || !strings.Contains(msg, "is taken") || !strings.Contains(msg, c.flag) {
				t.Errorf("stderr %q: want one line naming port %d as taken and %s", msg, taken, c.flag)
			}
			if got := strings.Contains(msg, "pass --address 127.0.0.1:"); got != c.temporal {
				t.Errorf("stderr %q names --address: %v, want %v", msg, got, c.temporal)
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

// TestDevUsesGivenTemporal: with NOVAFLOW_TEMPORAL_ADDRESS (or TEMPORAL_ADDRESS) set, `novaflow
// dev` starts no Temporal of its own (its port may be taken) and registers
// novaflow's search attributes in the namespace of the server given, as
// `novaflow temporal setup` does, before its services start there.
func TestDevUsesGivenTemporal(t *testing.T) {
	// The Temporal server given by novaflow's settings or by Temporal's
	// own (as the temporal CLI reads them).
	// "--": the global flags --address and --namespace.
	for _, prefix := range []string{"NOVAFLOW_TEMPORAL_", "TEMPORAL_", "--"} {
		t.Run(prefix, func(t *testing.T) { testDevUsesGivenTemporal(t, prefix) })
	}
}

func testDevUsesGivenTemporal(t *testing.T, prefix string) {
	server := testenv.Temporal(t)
	namespace := testenv.UniqueName(t, "devns")
	for _, k := range []string{"DATABASE_URL", "NOVAFLOW_HEALTH_ADDRESS", "NOVAFLOW_CONFIG_FILE",
		"NOVAFLOW_TEMPORAL_ADDRESS", "NOVAFLOW_TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if prefix == "--" {
		globalClient = clientFlags{address: server.Address(), namespace: namespace} // as execute's flags set them
		t.Cleanup(func() { globalClient = clientFlags{} })
	} else {
		t.Setenv(prefix+"ADDRESS", server.Address())
		t.Setenv(prefix+"NAMESPACE", namespace)
	}
	t.Setenv("NOVAFLOW_DATABASE_URL", testenv.Postgres(t))
	t.Setenv("NOVAFLOW_HOST", "devgiven")
	t.Setenv("NOVAFLOW_COMPUTE_DRIVER", "fake")
	work := t.TempDir()
	t.Chdir(work)
	l, err := net.Listen("tcp", "127.0.0.1:0") // dev's own Temporal port, taken
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := devOptions{dir: filepath.Join(work, stackDir), temporal: temporalDev,
		temporalPort: l.Addr().(*net.TCPAddr).Port, uiPort: l.Addr().(*net.TCPAddr).Port, postgresPort: testenv.FreePort(t)}
	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, o, out) }()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), "novaflow dev is running") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("novaflow dev exited: %v\n%s", err, out)
		case <-deadline:
			cancel()
			t.Fatalf("novaflow dev did not start\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	c, err := client.Dial(client.Options{HostPort: server.Address(), Namespace: namespace, Logger: sdklog.NewStructuredLogger(discardLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	for key := range workflows.SearchAttributes().GetUntypedValues() {
		if _, ok := attrs.CustomAttributes[key.GetName()]; !ok {
			t.Errorf("search attribute %s not registered in namespace %s", key.GetName(), namespace)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("novaflow dev: %v\n%s", err, out)
	}
	s := out.String()
	if !strings.Contains(s, "using the Temporal server at "+server.Address()) || strings.Contains(s, "starting the Temporal") || strings.Contains(s, "stopping Temporal") {
		t.Errorf("want dev to use the given Temporal and start none:\n%s", s)
	}
	if strings.Count(s, "authorization is off") != 1 {
		t.Errorf("want one line saying authorization is off:\n%s", s)
	}
}
