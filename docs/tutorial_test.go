package docs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/managers"
	_ "github.com/novaflow/novaflow/managers/volume"
	"github.com/novaflow/novaflow/policy"
	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// tutorialPath is the tutorial, relative to this package.
const tutorialPath = "writing-a-service.md"

// elision is a line of a quoted block that stands for left-out source.
var elision = regexp.MustCompile(`^\s*(//|--)\s*\.\.\.\s*$`)

// TestTutorialQuotes checks that every piece of code the tutorial quotes is
// in the file it names, as it is there.
func TestTutorialQuotes(t *testing.T) {
	n := 0
	for _, b := range parseDoc(t, tutorialPath) {
		if b.kind != "source" {
			continue
		}
		n++
		src, err := os.ReadFile(filepath.Join("..", b.path))
		if err != nil {
			t.Errorf("%s:%d: %v", tutorialPath, b.line, err)
			continue
		}
		rest := string(src)
		var piece []string
		check := func() {
			if len(piece) == 0 {
				return
			}
			text := strings.Join(piece, "\n")
			piece = nil
			i := strings.Index(rest, text)
			if i < 0 {
				t.Errorf("%s:%d: quoted code is not in %s (in this order):\n%s", tutorialPath, b.line, b.path, text)
				return
			}
			rest = rest[i+len(text):]
		}
		for _, l := range strings.Split(b.text, "\n") {
			if elision.MatchString(l) {
				check()
				continue
			}
			piece = append(piece, l)
		}
		check()
	}
	if n == 0 {
		t.Fatal("the tutorial quotes no code")
	}
}

// runService is the tutorial's main for a service in a module of its own:
// quoted there, compiled here.
func runService(topic string) error {
	// The environment, read again on SIGHUP with NOVAFLOW_CONFIG_FILE.
	load := func() (worker.Env, error) { return worker.LoadEnv(os.Environ()) }
	env, err := load()
	if err != nil {
		return err
	}
	cfg, err := worker.LoadConfig(env)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar) // NOVAFLOW_LOG_LEVEL, changed by SIGHUP
	logger := worker.NewLogger(os.Stderr, cfg, level)
	svc, err := worker.Create(cfg, worker.Options{Topic: topic, Logger: logger, LogLevel: level, Env: env, Reload: load})
	if err != nil {
		return err
	}
	return worker.Run(context.Background(), worker.RunOptions{Logger: logger}, svc)
}

var _ = runService

// TestTutorialCommands runs the tutorial's commands in order, as a reader
// would: it builds the novaflow binary (for `go run ./cmd/novaflow`) and
// finds the pinned temporal CLI, starts `novaflow dev` in a folder of its
// own (on free ports, with a test database), runs every tutorial:run block
// there, and stops the stack.
func TestTutorialCommands(t *testing.T) {
	blocks := parseDoc(t, tutorialPath)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	bin := t.TempDir()
	novaflow := filepath.Join(bin, "novaflow")
	goCmd(t, root, "build", "-o", novaflow, "./cmd/novaflow")
	temporalCLI(t, root, bin)
	t.Logf("built novaflow and found temporal in %s", time.Since(began).Round(time.Millisecond))

	work := t.TempDir()
	temporalPort, uiPort := testenv.FreePort(t), testenv.FreePort(t)
	path := "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
	// The temporal CLI's address in the reader's other terminal; not dev's,
	// which would take a TEMPORAL_ADDRESS for a server of the user's.
	env := append(cleanEnv(), path, fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", temporalPort))
	subst := strings.NewReplacer("go run ./cmd/novaflow", novaflow)

	var devStarted bool
	for _, b := range blocks {
		switch b.kind {
		case "dev":
			if strings.TrimSpace(b.text) != "go run ./cmd/novaflow dev" {
				t.Fatalf("%s:%d: the dev block is %q, want go run ./cmd/novaflow dev", tutorialPath, b.line, b.text)
			}
			devEnv := append(cleanEnv(), path,
				"NOVAFLOW_DATABASE_URL="+testenv.Postgres(t),
				"NOVAFLOW_HOST=tutorial",
				"NOVAFLOW_VOLUME_DATA_DIR="+filepath.Join(work, "volumes"),
			)
			startDev(t, work, devEnv, novaflow, "dev", "--health-address=",
				"--temporal-port", strconv.Itoa(temporalPort), "--ui-port", strconv.Itoa(uiPort))
			devStarted = true
			t.Logf("%s:%d: novaflow dev is running (%s)", tutorialPath, b.line, time.Since(began).Round(time.Millisecond))
		case "run":
			dir := work
			if v := b.attrs["dir"]; len(v) > 0 && v[0] == "module" {
				dir = root
			}
			runBlock(t, b, dir, env, subst.Replace(b.text))
			t.Logf("%s:%d: ok (%s)", tutorialPath, b.line, time.Since(began).Round(time.Millisecond))
		}
	}
	if !devStarted {
		t.Fatal("the tutorial never starts the dev stack")
	}
}

// startDev starts `novaflow dev` in dir and waits for its banner; it is
// stopped (as Ctrl-C does) when the test ends, and the instances it left
// running are killed.
func startDev(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	out := &testenv.Buffer{}
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("novaflow dev exited with %v\n%s", err, out)
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("novaflow dev did not stop within 2 minutes\n%s", out)
		}
		killInstances(t, dir)
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(dir, ".novaflow", "services.log"))
			t.Logf("novaflow dev:\n%s\nservices.log (end):\n%s", out, tail(logs, 8000))
		}
	})
	deadline := time.After(15 * time.Minute) // the first run builds the Temporal CLI
	for !strings.Contains(out.String(), "novaflow dev is running") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("novaflow dev exited: %v\n%s", err, out)
		case <-deadline:
			t.Fatalf("novaflow dev did not start\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// killInstances kills the processes of the instances the process compute
// driver of the dev stack in dir still runs (each is its own process group).
func killInstances(t *testing.T, dir string) {
	states, _ := filepath.Glob(filepath.Join(dir, ".novaflow", "compute-*", "instances", "*", "state.json"))
	for _, path := range states {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var st struct {
			PID int `json:"pid"`
		}
		if json.Unmarshal(data, &st) == nil && st.PID > 0 && syscall.Kill(st.PID, 0) == nil {
			t.Logf("killing the process group %d of instance %s", st.PID, filepath.Base(filepath.Dir(path)))
			_ = syscall.Kill(-st.PID, syscall.SIGKILL)
		}
	}
}

// TestTutorialPolicy checks that every policy the tutorial shows parses, and
// that each of its method rules names a method the volume service has.
func TestTutorialPolicy(t *testing.T) {
	n := 0
	for _, b := range parseDoc(t, tutorialPath) {
		if b.kind != "policy" {
			continue
		}
		n++
		p, err := policy.Parse([]byte(b.text))
		if err != nil {
			t.Errorf("%s: %v", b.at(), err)
			continue
		}
		def, err := managers.Lookup("volume")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range p.Names() {
			topic, method, ok := strings.Cut(name, ":")
			if !ok || topic != "volume" {
				continue
			}
			if _, ok := def.Method(method); !ok {
				t.Errorf("%s: rule %q names no method of the volume service", b.at(), name)
			}
		}
	}
	if n == 0 {
		t.Error("the tutorial shows no policy")
	}
}
