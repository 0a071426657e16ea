package docs_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/testenv"
)

// upgradesPath is the upgrade guide, relative to this package.
const upgradesPath = "upgrades.md"

// TestUpgradeWalkthrough runs the commands of the upgrade guide's
// walkthrough in order, as an operator would, and checks their output: it
// builds both releases as the guide says (the novaflow binary, and the same
// with the tag novaflow_next), then starts, stops, reloads and rolls back
// services with the guide's scripts, on a Temporal server (in a namespace
// of its own) and a PostgreSQL database of the test's, with the pinned
// temporal CLI on PATH.
func TestUpgradeWalkthrough(t *testing.T) {
	blocks := parseDoc(t, upgradesPath)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	bin := t.TempDir()
	temporalCLI(t, root, bin)
	srv := testenv.Temporal(t)
	// The guide builds into rehearsal/ of the module; here, a temporary
	// folder of that name.
	rehearsal := filepath.Join(t.TempDir(), "rehearsal")
	if err := os.Mkdir(rehearsal, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopRehearsal(t, rehearsal) })
	// A namespace of the run's own, which the guide's `novaflow temporal
	// setup` creates: the worker deployments of another run (r1 and r2
	// again) would hold back this one's.
	namespace := testenv.UniqueName(t, "rehearsal")
	env := append(cleanEnv(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NOVAFLOW_DATABASE_URL="+testenv.Postgres(t),
		"NOVAFLOW_TEMPORAL_ADDRESS="+srv.Address(),
		"NOVAFLOW_TEMPORAL_NAMESPACE="+namespace,
		"TEMPORAL_ADDRESS="+srv.Address(),
		"TEMPORAL_NAMESPACE="+namespace,
	)
	subst := strings.NewReplacer(" rehearsal/", " "+rehearsal+"/")
	ran := 0
	for _, b := range blocks {
		switch b.kind {
		case "dev":
			t.Fatalf("%s: the walkthrough runs its own services, not the dev stack", b.at())
		case "run":
			dir := rehearsal
			if v := b.attrs["dir"]; len(v) > 0 && v[0] == "module" {
				dir = root
			}
			runBlock(t, b, dir, env, subst.Replace(b.text))
			ran++
			t.Logf("%s: ok (%s)", b.at(), time.Since(began).Round(time.Millisecond))
		}
	}
	if ran == 0 {
		t.Fatal("the upgrade guide runs no command")
	}
}

// stopRehearsal kills the services the walkthrough left running (a failed
// step), and logs the end of each service's log when the test failed.
func stopRehearsal(t *testing.T, dir string) {
	pids, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, path := range pids {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if !t.Failed() {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, path := range logs {
		data, _ := os.ReadFile(path)
		t.Logf("%s (end):\n%s", filepath.Base(path), tail(data, 4000))
	}
}
