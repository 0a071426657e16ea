package validate

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const dockerfile = "deploy/docker/Dockerfile"

// parseDockerfile parses the Dockerfile with BuildKit's own parser and
// linter (the checks `docker build --check` runs on instructions); parser and
// lint warnings are errors.
func parseDockerfile(src []byte) ([]instructions.Stage, []error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, []error{err}
	}
	var errs []error
	for _, w := range res.Warnings {
		errs = append(errs, fmt.Errorf("parser warning: %s", w.Short))
	}
	lint := linter.New(&linter.Config{ExperimentalAll: true, Warn: func(rule, description, url, msg string, loc []parser.Range) {
		errs = append(errs, fmt.Errorf("%v: lint %s: %s", loc, rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, append(errs, err)
	}
	return stages, errs
}

// checkDockerfile returns what is wrong with the stages for novaflow's
// image: a build stage that builds a static binary, and a final stage of
// its own that runs it as a non-root user.
func checkDockerfile(stages []instructions.Stage, s settings) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(stages) < 2 {
		return []error{fmt.Errorf("%d stages, want a build stage and a runtime stage", len(stages))}
	}
	build := slices.IndexFunc(stages, func(st instructions.Stage) bool { return st.Name == "build" })
	if build < 0 {
		return []error{fmt.Errorf("no stage named build")}
	}
	built := false
	for _, c := range stages[build].Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			line := strings.Join(r.CmdLine, " ")
			if strings.Contains(line, "go build") {
				built = true
				for _, want := range []string{"CGO_ENABLED=0", "-o /out/novaflow", "./cmd/novaflow", "-trimpath"} {
					if !strings.Contains(line, want) {
						fail("build stage: go build without %s: %s", want, line)
					}
				}
			}
		}
	}
	if !built {
		fail("build stage: no RUN go build")
	}
	final := stages[len(stages)-1]
	if final.Name == "build" || final.BaseName == "build" || strings.HasPrefix(final.BaseName, "golang") {
		fail("final stage %q (FROM %s): want a runtime image of its own, not the build stage", final.Name, final.BaseName)
	}
	var user, stopSignal string
	var entrypoint []string
	var exposed []string
	env := map[string]string{}
	copied := false
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				fail("ENTRYPOINT in shell form: SIGTERM would reach the shell, not novaflow")
			}
			entrypoint = c.CmdLine
		case *instructions.StopSignalCommand:
			stopSignal = c.Signal
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.CopyCommand:
			if c.From == "build" && slices.Contains(c.SourcePaths, "/out/novaflow") && c.DestPath == "/usr/local/bin/novaflow" {
				copied = true
			}
		}
	}
	if !copied {
		fail("final stage: no COPY --from=build /out/novaflow /usr/local/bin/novaflow")
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		fail("USER %q: want a numeric non-root user (Kubernetes runAsNonRoot can check only a number)", user)
	}
	if !slices.Equal(entrypoint, []string{"/usr/local/bin/novaflow"}) {
		fail("ENTRYPOINT %q: want [\"/usr/local/bin/novaflow\"], the topic coming from the command", entrypoint)
	}
	if stopSignal != "SIGTERM" {
		fail("STOPSIGNAL %q: want SIGTERM, the graceful stop", stopSignal)
	}
	for k := range env {
		if strings.HasPrefix(k, "NOVAFLOW_") && !s.known(k) {
			fail("ENV %s: not a novaflow setting", k)
		}
	}
	if v := env["NOVAFLOW_BUILD_ID"]; v != "${NOVAFLOW_BUILD_ID}" {
		fail("ENV NOVAFLOW_BUILD_ID=%q: want it from the build argument", v)
	}
	if _, port, err := net.SplitHostPort(env["NOVAFLOW_HEALTH_ADDRESS"]); err != nil || !slices.Contains(exposed, port) {
		fail("EXPOSE %v does not include the port of NOVAFLOW_HEALTH_ADDRESS=%q", exposed, env["NOVAFLOW_HEALTH_ADDRESS"])
	}
	return errs
}

func TestDockerfile(t *testing.T) {
	s := loadSettings(t)
	src, err := os.ReadFile(filepath.Join(repoRoot, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	stages, errs := parseDockerfile(src)
	for _, err := range append(errs, checkDockerfile(stages, s)...) {
		t.Errorf("%s: %v", dockerfile, err)
	}

	// The checks catch what they are for.
	for _, c := range []struct{ from, to, want string }{
		{"USER 10001:10001", "USER root", "non-root"},
		{"CGO_ENABLED=0 ", "CGO_ENABLED=1 ", "CGO_ENABLED=0"},
		{`ENTRYPOINT ["/usr/local/bin/novaflow"]`, "ENTRYPOINT /usr/local/bin/novaflow", "shell form"},
		{"FROM alpine:${ALPINE_VERSION} AS runtime", "FROM build AS runtime", "not the build stage"},
		{"EXPOSE 8080", "EXPOSE 9090", "EXPOSE"},
		{"FROM alpine:${ALPINE_VERSION} AS runtime", "FROM alpine:${ALPINE_VERSION} as runtime", "lint FromAsCasing"},
	} {
		broken := bytes.Replace(src, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(broken, src) {
			t.Fatalf("%q is not in %s", c.from, dockerfile)
		}
		stages, errs := parseDockerfile(broken)
		errs = append(errs, checkDockerfile(stages, s)...)
		if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), c.want) }) {
			t.Errorf("%s with %q: errors %v, want one containing %q", dockerfile, c.to, errs, c.want)
		}
	}
}

// TestDockerignore checks that the build context the Dockerfile's ignore
// file leaves holds every file `go build ./cmd/novaflow` reads, and not the
// tests, tool modules or the VCS folder.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, dockerfile+".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(path string) bool {
		ex, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is needed to list the binary's source files: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f",
		`{{if and .Module (eq .Module.Path "github.com/novaflow/novaflow")}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/novaflow")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, p := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %d files of the binary", len(needed))
	}
	for _, p := range needed {
		if excluded(p) {
			t.Errorf("%s.dockerignore leaves out %s, which the build needs", dockerfile, p)
		}
	}
	for _, p := range []string{".git/config", "worker/versioning_test.go", "tools/temporal/go.mod", "deploy/validate/go.mod", ".novaflow/stack.json", "docs/deployment.md"} {
		if !excluded(p) {
			t.Errorf("%s.dockerignore keeps %s in the build context", dockerfile, p)
		}
	}
}
