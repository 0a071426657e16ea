package docs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The documents whose commands are run by a test (the tutorial,
// writing-a-service.md; the upgrade walkthrough, upgrades.md) mark their
// fenced code blocks. A block is a fenced code block with the marker before
// it:
//
//	<!-- tutorial:source PATH -->       the block is quoted from PATH (from
//	                                    the module root); lines "// ..." or
//	                                    "-- ..." elide, the pieces must
//	                                    appear in order
//	<!-- tutorial:dev -->               the command that starts the dev stack
//	<!-- tutorial:policy -->            an authorization policy (YAML) that must
//	                                    parse, naming methods the service has
//	<!-- tutorial:run [ATTRS] -->       a shell block the test runs, in the
//	                                    document's folder; ATTRS: dir=module
//	                                    (run in the module root instead),
//	                                    fails (must exit non-zero),
//	                                    want="text" (the output must contain
//	                                    it; repeatable), lacks="text" (the
//	                                    output must not contain it;
//	                                    repeatable), match="regexp" (a line
//	                                    of the output must match it;
//	                                    repeatable), retry (try again for up
//	                                    to 30s, or retry=DURATION: for lists,
//	                                    which Temporal's visibility store
//	                                    fills a moment later, and states that
//	                                    settle)
//
// Every ```sh block must have a dev or run marker: every command of the
// document is run.
type block struct {
	doc   string // the document, for messages
	line  int    // line of the opening fence, 1-based
	kind  string // source, dev or run; "" for an unmarked block
	path  string // source: the quoted file
	attrs map[string][]string
	lang  string
	text  string // the content, without the fence's indentation
}

// at names the block in messages: document:line.
func (b block) at() string { return fmt.Sprintf("%s:%d", b.doc, b.line) }

var (
	markerRE = regexp.MustCompile(`^\s*<!--\s*tutorial:(\w+)(.*?)-->\s*$`)
	fenceRE  = regexp.MustCompile("^(\\s*)```(\\w*)\\s*$")
	attrRE   = regexp.MustCompile(`([\w-]+)(?:=("(?:[^"\\]|\\.)*"|\S+))?`)
)

// parseDoc reads the blocks of the document at path (relative to this
// package) and checks their markers.
func parseDoc(t *testing.T, path string) []block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []block
	var pending *block
	for i := 0; i < len(lines); i++ {
		if m := markerRE.FindStringSubmatch(lines[i]); m != nil {
			if pending != nil {
				t.Fatalf("%s: marker without a code block after it", pending.at())
			}
			pending = &block{doc: path, line: i + 1, kind: m[1], attrs: map[string][]string{}}
			if pending.kind == "source" {
				pending.path = strings.TrimSpace(m[2])
				continue
			}
			for _, a := range attrRE.FindAllStringSubmatch(strings.TrimSpace(m[2]), -1) {
				v := a[2]
				if strings.HasPrefix(v, `"`) {
					if v, err = strconv.Unquote(v); err != nil {
						t.Fatalf("%s:%d: attribute %s: %v", path, i+1, a[1], err)
					}
				}
				pending.attrs[a[1]] = append(pending.attrs[a[1]], v)
			}
			continue
		}
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			if pending != nil && strings.TrimSpace(lines[i]) != "" {
				t.Fatalf("%s: marker without a code block after it", pending.at())
			}
			continue
		}
		b := block{doc: path, line: i + 1, lang: m[2]}
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
			t.Fatalf("%s: unclosed code block", b.at())
		}
		b.text = strings.Join(body, "\n")
		blocks = append(blocks, b)
	}
	if pending != nil {
		t.Fatalf("%s: marker without a code block after it", pending.at())
	}
	known := map[string]bool{"dir": true, "fails": true, "want": true, "lacks": true, "match": true, "retry": true}
	for _, b := range blocks {
		switch {
		case b.lang == "sh" && b.kind != "run" && b.kind != "dev":
			t.Errorf("%s: a sh block without <!-- tutorial:run --> or <!-- tutorial:dev -->: every command must be run", b.at())
		case b.kind == "source" && b.path == "":
			t.Errorf("%s: tutorial:source names no file", b.at())
		case b.kind != "" && b.kind != "source" && b.kind != "run" && b.kind != "dev" && b.kind != "policy":
			t.Errorf("%s: unknown marker tutorial:%s", b.at(), b.kind)
		}
		for a := range b.attrs {
			if !known[a] {
				t.Errorf("%s: unknown attribute %s", b.at(), a)
			}
		}
		if _, err := b.retryFor(); err != nil {
			t.Errorf("%s: %v", b.at(), err)
		}
		for _, m := range b.attrs["match"] {
			if _, err := regexp.Compile(m); err != nil {
				t.Errorf("%s: match=%q: %v", b.at(), m, err)
			}
		}
	}
	return blocks
}

// defaultRetry is how long a block marked retry is tried.
const defaultRetry = 30 * time.Second

// retryFor is how long the block is tried: 0 when it is not marked retry.
func (b block) retryFor() (time.Duration, error) {
	v, ok := b.attrs["retry"]
	switch {
	case !ok:
		return 0, nil
	case v[0] == "":
		return defaultRetry, nil
	}
	d, err := time.ParseDuration(v[0])
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("retry=%s: want a duration", v[0])
	}
	return d, nil
}

// runBlock runs one shell block in dir and checks its outcome; a block
// marked retry is run again until it passes or its time is up.
func runBlock(t *testing.T, b block, dir string, env []string, script string) {
	t.Helper()
	retry, _ := b.retryFor()
	deadline := time.Now().Add(retry)
	for {
		problem := runOnce(t, b, dir, env, script)
		if problem == "" {
			return
		}
		if retry == 0 || time.Now().After(deadline) {
			t.Fatalf("%s: %s", b.at(), problem)
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
	if testing.Verbose() {
		t.Logf("%s:\n$ %s\n%s", b.at(), script, out)
	}
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
	for _, m := range b.attrs["match"] {
		if !regexp.MustCompile("(?m)" + m).Match(out) {
			return fmt.Sprintf("no line of the output matches %q:\n$ %s\n%s", m, b.text, out)
		}
	}
	for _, lacks := range b.attrs["lacks"] {
		if bytes.Contains(out, []byte(lacks)) {
			return fmt.Sprintf("the output has %q:\n$ %s\n%s", lacks, b.text, out)
		}
	}
	return ""
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

// temporalCLI links the pinned temporal CLI (tools/temporal) into bin, for
// the documents' `temporal` commands.
func temporalCLI(t *testing.T, root, bin string) {
	t.Helper()
	path := strings.TrimSpace(goCmd(t, root+"/tools/temporal", "tool", "-n", "temporal"))
	if err := os.Symlink(path, bin+"/temporal"); err != nil {
		t.Fatal(err)
	}
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
