//go:build temporalsql

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/testenv"
)

// TestInstallWithTemporalProfile installs novaflow on a fresh namespace of
// the pinned Temporal server on PostgreSQL (SQL visibility, as production)
// with only the commands of docs/deployment.md ("Installing, in three
// commands") and a `temporal` CLI profile, no NOVAFLOW_TEMPORAL_*: the
// pinned temporal CLI writes the profile (`temporal config set`), the built
// novaflow binary runs `migrate`, `temporal setup` and `run` for the
// conductor, the scheduler and a compute host (the fake driver, set
// explicitly); `novaflow instance create` and the CLI, with the same
// profile, each start a build; both instances are then active on the host:
//
//	go test -tags temporalsql -count=1 -run TestInstallWithTemporalProfile ./cmd/novaflow
func TestInstallWithTemporalProfile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute) // the first run builds the server
	defer cancel()
	bin := t.TempDir()
	novaflow := filepath.Join(bin, "novaflow")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", novaflow, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	progress := &testenv.Buffer{}
	temporal, err := devstack.TemporalCLI(ctx, progress)
	if err != nil {
		t.Fatalf("the pinned temporal CLI: %v\n%s", err, progress)
	}

	// The cluster: Temporal on PostgreSQL, and novaflow's database.
	pgURL := testenv.Postgres(t)
	prefix := fmt.Sprintf("tinstall_%d", time.Now().UnixNano()%1_000_000_000)
	serverOut := &testenv.Buffer{}
	srv, err := devstack.StartTemporalSQL(ctx, devstack.TemporalSQLOptions{
		PostgresURL: pgURL, Dir: t.TempDir(), DatabasePrefix: prefix, Stdout: serverOut, Stderr: serverOut,
	})
	if err != nil {
		t.Fatalf("start Temporal on PostgreSQL: %v\n%s", err, serverOut)
	}
	t.Cleanup(func() {
		_ = srv.Stop()
		dropDatabases(t, pgURL, prefix, prefix+"_visibility")
	})
	namespace := testenv.UniqueName(t, "install")

	// The operator's environment: a profile of the temporal CLI's file and
	// the database; no NOVAFLOW_TEMPORAL_*, no TEMPORAL_ADDRESS.
	work := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOVAFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+work,
		"TEMPORAL_CONFIG_FILE="+filepath.Join(work, "temporal.toml"),
		"TEMPORAL_PROFILE=novaflow-prod",
		"NOVAFLOW_DATABASE_URL="+pgURL,
	)
	command := func(extra []string, name string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = work // no dev stack is found from here
		cmd.Env = append(append([]string{}, env...), extra...)
		return cmd
	}
	runOK := func(name string, args ...string) string {
		t.Helper()
		out, err := command(nil, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		t.Logf("$ %s %s\n%s", filepath.Base(name), strings.Join(args, " "), out)
		return string(out)
	}

	runOK(temporal, "config", "set", "--profile", "novaflow-prod", "--prop", "address", "--value", srv.Address())
	runOK(temporal, "config", "set", "--profile", "novaflow-prod", "--prop", "namespace", "--value", namespace)
	runOK(novaflow, "migrate")
	if out := runOK(novaflow, "temporal", "setup"); !strings.Contains(out, "created  namespace") || !strings.Contains(out, "ready for novaflow") {
		t.Fatalf("temporal setup on a fresh namespace:\n%s", out)
	}
	// The CLI sees the namespace novaflow set up, through the same profile.
	if out := runOK(temporal, "operator", "search-attribute", "list"); !strings.Contains(out, "NovaflowInstance") {
		t.Fatalf("the CLI, with the profile, does not see novaflow's search attributes:\n%s", out)
	}

	// The services, each a process as systemd or Kubernetes runs them.
	host := "install-node1"
	for _, topic := range []string{"conductor", "scheduler", "compute"} {
		extra := []string{"NOVAFLOW_HOST=" + host, "STATE_DIRECTORY=" + filepath.Join(work, "state-"+topic)}
		if topic == "compute" {
			extra = append(extra, "NOVAFLOW_COMPUTE_DRIVER=fake")
		}
		out := &testenv.Buffer{}
		// Not bound to ctx: the cleanup stops it with one SIGTERM (a
		// second one would be an interrupt) and wants a clean exit.
		cmd := exec.Command(novaflow, "run", topic)
		cmd.Dir, cmd.Env = work, append(append([]string{}, env...), extra...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("novaflow run %s: %v\n%s", topic, err, out)
				}
			case <-time.After(90 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("novaflow run %s did not stop\n%s", topic, out)
			}
			if t.Failed() {
				t.Logf("novaflow run %s:\n%s", topic, out)
			}
		})
	}

	// The operator waits for the compute host to be up.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := command(nil, novaflow, "service", "list", "-o", "json").Output()
		var rows []serviceView
		if err == nil && json.Unmarshal(out, &rows) == nil {
			up := 0
			for _, r := range rows {
				if r.Host == host && r.State == "up" {
					up++
				}
			}
			if up == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the services are not all up: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}

	// Two builds, as docs/deployment.md starts them: novaflow's command,
	// and the temporal CLI's with the same profile.
	began := time.Now()
	runOK(novaflow, "instance", "create", "install", "--vcpus", "1", "--memory-mb", "64", "--disk-gb", "1", "--", "sleep", "3600")
	t.Logf("novaflow instance create on the fresh namespace took %s", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	runOK(temporal, "workflow", "execute", "--task-queue", "conductor", "--type", "conductor.build_instances",
		"--input", `{"name":"install2","count":1,"flavor":{"vcpus":1,"memory_mb":64,"disk_gb":1},"image":{"command":["sleep","3600"]}}`)
	t.Logf("temporal workflow execute conductor.build_instances on the fresh namespace took %s", time.Since(began).Round(time.Millisecond))
	out := runOK(novaflow, "instance", "list", "-o", "json")
	var insts []struct {
		Name    string `json:"name"`
		Host    string `json:"host"`
		VMState string `json:"vm_state"`
	}
	if err := json.Unmarshal([]byte(out), &insts); err != nil {
		t.Fatalf("instance list --json: %v\n%s", err, out)
	}
	names := map[string]bool{}
	for _, in := range insts {
		if in.Host != host || in.VMState != "active" {
			t.Errorf("instance %+v: want active on %s", in, host)
		}
		names[in.Name] = true
	}
	if len(insts) != 2 || !names["install"] || !names["install2"] {
		t.Fatalf("instances %+v, want install and install2", insts)
	}
}
