package docs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// tutorialPath is the tutorial, relative to this package.
const tutorialPath = "writing-a-service.md"

// A block is a fenced code block of the tutorial with the marker before it:
//
//	<!-- tutorial:source PATH -->       the block is quoted from PATH (from
//	                                    the module root); lines "// ..." or
//	                                    "-- ..." elide, the pieces must
//	                                    appear in order
//	<!-- tutorial:dev -->               the command that starts the dev stack
//	<!-- tutorial:run [ATTRS] -->       a shell block the test runs, in the
//	                                    dev stack's folder; ATTRS: dir=module
//	                                    (run in the module root instead),
//	                                    fails (must exit non-zero),
//	                                    want="text" (the output must contain
//	                                    it; repeatable), retry (try again for
//	                                    up to 30s: for lists, which Temporal's
//	                                    visibility store fills a moment later)
//
// Every ```sh block must have a dev or run marker.
type block struct {
	line  int    // line of the opening fence, 1-based
	kind  string // source, dev or run; "" for an unmarked block
	path  string // source: the quoted file
	attrs map[string][]string
	lang  string
	text  string // the content, without the fence's indentation
}

var (
	markerRE = regexp.MustCompile(`^\s*<!--\s*tutorial:(\w+)(.*?)-->\s*$`)
	fenceRE  = regexp.MustCompile("^(\\s*)```(\\w*)\\s*$")
	attrRE   = regexp.MustCompile(`([\w-]+)(?:=("(?:[^"\\]|\\.)*"|\S+))?`)
)

// parseTutorial reads the tutorial's blocks.
func parseTutorial(t *testing.T) []block {
	t.Helper()
	data, err := os.ReadFile(tutorialPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []block
	var pending *block
	for i := 0; i < len(lines); i++ {
		if m := markerRE.FindStringSubmatch(lines[i]); m != nil {
			if pending != nil {
				t.Fatalf("%s:%d: marker without a code block after it", tutorialPath, pending.line)
			}
			pending = &block{line: i + 1, kind: m[1], attrs: map[string][]string{}}
			if pending.kind == "source" {
				pending.path = strings.TrimSpace(m[2])
				continue
			}
			for _, a := range attrRE.FindAllStringSubmatch(strings.TrimSpace(m[2]), -1) {
				v := a[2]
				if strings.HasPrefix(v, `"`) {
					if v, err = strconv.Unquote(v); err != nil {
						t.Fatalf("%s:%d: attribute %s: %v", tutorialPath, i+1, a[1], err)
					}
				}
				pending.attrs[a[1]] = append(pending.attrs[a[1]], v)
			}
			continue
		}
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			if pending != nil && strings.TrimSpace(lines[i]) != "" {
				t.Fatalf("%s:%d: marker without a code block after it", tutorialPath, pending.line)
			}
			continue
		}
		b := block{line: i + 1, lang: m[2]}
		if pending != nil {
			b.kind, b.path, b.attrs = pending.kind, pending.path, pending.attrs
			pending = nil
		}
		indent := m[1]
		var body []string
		for i++; i < len(lines) && !fenceRE.MatchString(lines[i]); i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: unclosed code block", tutorialPath, b.line)
		}
		b.text = strings.Join(body, "\n")
		blocks = append(blocks, b)
	}
	if pending != nil {
		t.Fatalf("%s:%d: marker without a code block after it", tutorialPath, pending.line)
	}
	for _, b := range blocks {
		switch {
		case b.lang == "sh" && b.kind != "run" && b.kind != "dev":
			t.Errorf("%s:%d: a sh block without <!-- tutorial:run --> or <!-- tutorial:dev -->: every command must be run", tutorialPath, b.line)
		case b.kind == "source" && b.path == "":
			t.Errorf("%s:%d: tutorial:source names no file", tutorialPath, b.line)
		case b.kind != "" && b.kind != "source" && b.kind != "run" && b.kind != "dev":
			t.Errorf("%s:%d: unknown marker tutorial:%s", tutorialPath, b.line, b.kind)
		}
	}
	return blocks
}

// elision is a line of a quoted block that stands for left-out source.
var elision = regexp.MustCompile(`^\s*(//|--)\s*\.\.\.\s*$`)

// TestTutorialQuotes checks that every piece of code the tutorial quotes is
// in the file it names, as it is there.
func TestTutorialQuotes(t *testing.T) {
	n := 0
	for _, b := range parseTutorial(t) {
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
	blocks := parseTutorial(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	bin := t.TempDir()
	novaflow := filepath.Join(bin, "novaflow")
	goCmd(t, root, "build", "-o", novaflow, "./cmd/novaflow")
	temporalCLI := strings.TrimSpace(goCmd(t, filepath.Join(root, "tools", "temporal"), "tool", "-n", "temporal"))
	if err := os.Symlink(temporalCLI, filepath.Join(bin, "temporal")); err != nil {
		t.Fatal(err)
	}
	t.Logf("built novaflow and found temporal in %s", time.Since(began).Round(time.Millisecond))

	work := t.TempDir()
	temporalPort, uiPort := testenv.FreePort(t), testenv.FreePort(t)
	env := append(cleanEnv(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", temporalPort),
	)
	subst := strings.NewReplacer("go run ./cmd/novaflow", novaflow)

	var devStarted bool
	for _, b := range blocks {
		switch b.kind {
		case "dev":
			if strings.TrimSpace(b.text) != "go run ./cmd/novaflow dev" {
				t.Fatalf("%s:%d: the dev block is %q, want go run ./cmd/novaflow dev", tutorialPath, b.line, b.text)
			}
			devEnv := append(env[:len(env):len(env)],
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

// runBlock runs one shell block in dir and checks its outcome; a block
// marked retry is run again, for up to 30s, until it passes.
func runBlock(t *testing.T, b block, dir string, env []string, script string) {
	t.Helper()
	_, retry := b.attrs["retry"]
	deadline := time.Now().Add(30 * time.Second)
	for {
		problem := runOnce(t, b, dir, env, script)
		if problem == "" {
			return
		}
		if !retry || time.Now().After(deadline) {
			t.Fatalf("%s:%d: %s", tutorialPath, b.line, problem)
		}
		time.Sleep(time.Second)
	}
}

// runOnce runs the block once and says what is wrong with its outcome, or "".
func runOnce(t *testing.T, b block, dir string, env []string, script string) string {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-e", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	_, fails := b.attrs["fails"]
	var exitErr *exec.ExitError
	switch {
	case fails && err == nil:
		return fmt.Sprintf("succeeded, want a failure:\n$ %s\n%s", b.text, out)
	case fails && !errors.As(err, &exitErr):
		return fmt.Sprintf("did not run: %v", err)
	case !fails && err != nil:
		return fmt.Sprintf("%v:\n$ %s\n%s", err, b.text, out)
	}
	for _, want := range b.attrs["want"] {
		if !bytes.Contains(out, []byte(want)) {
			return fmt.Sprintf("the output lacks %q:\n$ %s\n%s", want, b.text, out)
		}
	}
	return ""
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

// cleanEnv is the environment without the settings that would point a
// command at another stack.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NOVAFLOW_") || strings.HasPrefix(k, "TEMPORAL_") || k == "DATABASE_URL" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// goCmd runs the go command in dir and returns its output.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}
