package devstack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// TemporalCLIVersion is the version of the Temporal CLI pinned in tools/temporal.
const TemporalCLIVersion = "v1.5.1"

// modulePath is the module whose tools/temporal folder pins the CLI.
const modulePath = "github.com/novaflow/novaflow"

// cliCache holds the resolved CLI path for the life of the process. A buffered
// channel rather than a mutex serves as the lock so that a caller waiting for
// another's build can give up when its context ends. Failures are not cached:
// the next call tries again.
var cliCache = struct {
	lock chan struct{}
	path string
}{lock: make(chan struct{}, 1)}

// TemporalCLI returns the path of the Temporal CLI binary, building the pinned
// version first if needed. It looks, in order, at the environment variable
// NOVAFLOW_TEMPORAL_CLI (an explicit path), at the tool module tools/temporal
// of the novaflow module (found from the working directory or, failing that,
// from this package's source), where `go tool -n temporal` builds the pinned
// TemporalCLIVersion once into the Go build cache, and at `temporal` on PATH.
//
// The first build takes a few minutes; while it runs TemporalCLI writes
// progress lines to progress (which may be nil). The result is kept for the
// life of the process.
func TemporalCLI(ctx context.Context, progress io.Writer) (string, error) {
	if path := os.Getenv("NOVAFLOW_TEMPORAL_CLI"); path != "" {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			return "", fmt.Errorf("NOVAFLOW_TEMPORAL_CLI=%s is not a file: point it at a temporal binary (%s) or unset it", path, TemporalCLIVersion)
		}
		return path, nil
	}
	select {
	case cliCache.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the Temporal CLI: %w", ctx.Err())
	}
	defer func() { <-cliCache.lock }()
	if cliCache.path != "" {
		return cliCache.path, nil
	}
	path, err := findTemporalCLI(ctx, progress)
	if err != nil {
		return "", err
	}
	cliCache.path = path
	return path, nil
}

// findTemporalCLI resolves the CLI from the tool module, then from PATH.
func findTemporalCLI(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	var buildErr error
	if root := findModuleRoot(); root != "" {
		path, err := buildPinnedCLI(ctx, filepath.Join(root, "tools", "temporal"), progress)
		if err == nil {
			return path, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		buildErr = err
	} else {
		buildErr = fmt.Errorf("no %s module found above the working directory to build the pinned CLI from", modulePath)
	}
	if path, err := exec.LookPath(exe("temporal")); err == nil {
		fmt.Fprintf(progress, "novaflow: using %s from PATH, not the pinned Temporal CLI %s: %v\n", path, TemporalCLIVersion, buildErr)
		return path, nil
	}
	return "", fmt.Errorf("temporal CLI not found: %w; to get it, use a Go toolchain with access to the Go module proxy "+
		"(the novaflow module pins %s in tools/temporal and builds it with `go tool -n temporal` there), "+
		"or set NOVAFLOW_TEMPORAL_CLI to a temporal binary, or put temporal on PATH", buildErr, TemporalCLIVersion)
}

// findModuleRoot returns the directory of the novaflow go.mod above the working
// directory or, failing that, above this source file (known when the package
// is built from a checkout rather than the module cache: a nested module such
// as tools/temporal is not part of the published module).
func findModuleRoot() string {
	if wd, err := os.Getwd(); err == nil {
		if root := moduleRootAbove(wd); root != "" {
			return root
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return moduleRootAbove(filepath.Dir(file))
	}
	return ""
}

// moduleRootAbove walks up from dir to the go.mod of modulePath that also has
// the tools/temporal tool module.
func moduleRootAbove(dir string) string {
	for {
		if isModuleRoot(dir) {
			if _, err := os.Stat(filepath.Join(dir, "tools", "temporal", "go.mod")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// isModuleRoot reports whether dir has a go.mod declaring modulePath.
func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			name, _, _ := strings.Cut(strings.TrimSpace(rest), "//")
			return strings.Trim(strings.TrimSpace(name), `"`+"`") == modulePath
		}
	}
	return false
}

// buildPinnedCLI runs `go tool -n temporal` in the tool module dir, which
// prints the path of the cached binary after building it if needed, and
// reports progress while that takes long.
func buildPinnedCLI(ctx context.Context, dir string, progress io.Writer) (string, error) {
	goBin, err := exec.LookPath(exe("go"))
	if err != nil {
		return "", fmt.Errorf("building the pinned Temporal CLI: no go command on PATH: %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, "tool", "-n", "temporal")
	cmd.Dir = dir
	// The tool module stands alone: a go.work above it must not pull it in.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr

	start := time.Now()
	stopProgress := reportProgress(progress, start, 5*time.Second, 15*time.Second)
	err = cmd.Run()
	if stopProgress() {
		if err == nil {
			fmt.Fprintf(progress, "novaflow: built the Temporal CLI %s in %s\n", TemporalCLIVersion, time.Since(start).Round(time.Second))
		} else {
			fmt.Fprintf(progress, "novaflow: building the Temporal CLI %s failed after %s\n", TemporalCLIVersion, time.Since(start).Round(time.Second))
		}
	}
	if err != nil {
		return "", fmt.Errorf("building the pinned Temporal CLI with `go tool -n temporal` in %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	path := strings.TrimSpace(stdout.String())
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		return "", fmt.Errorf("building the pinned Temporal CLI: `go tool -n temporal` in %s printed %q, which is not a file", dir, path)
	}
	return path, nil
}

// reportProgress writes a first line after the delay first (resolving a cached
// binary takes about a second, and should print nothing) and then one at each
// interval every, until the returned func is called; that func reports
// whether anything was written.
func reportProgress(w io.Writer, start time.Time, first, every time.Duration) (stop func() bool) {
	done := make(chan struct{})
	wrote := make(chan bool, 1)
	go func() {
		printed := false
		defer func() { wrote <- printed }()
		select {
		case <-done:
			return
		case <-time.After(first):
		}
		fmt.Fprintf(w, "novaflow: building the pinned Temporal CLI %s once (go tool -n temporal in tools/temporal); this takes a few minutes...\n", TemporalCLIVersion)
		printed = true
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(w, "novaflow: still building the Temporal CLI (%s elapsed)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() bool {
		close(done)
		return <-wrote
	}
}
