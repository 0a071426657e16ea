package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/novaflow/novaflow/internal/db"
	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// cliStack is a `novaflow dev` the built binary runs against, and how to
// run commands beside it.
type cliStack struct {
	bin  string   // the folder of the novaflow binary and a temporal link
	dir  string   // the dev stack's folder; commands run there
	env  []string // the commands' environment
	host string   // the compute host
	db   string   // the database URL
}

// startCLIStack builds the novaflow binary, links the pinned temporal CLI
// beside it, and starts `novaflow dev` with it on the shared test Temporal
// server (a fresh namespace) and a fresh database, with the fake compute
// and volume drivers. It is stopped as Ctrl-C does when the test ends.
func startCLIStack(t *testing.T) *cliStack {
	t.Helper()
	began := time.Now()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "novaflow"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cli, err := devstack.TemporalCLI(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cli, filepath.Join(bin, "temporal")); err != nil {
		t.Fatal(err)
	}
	server := testenv.Temporal(t)
	namespace := testenv.UniqueName(t, "cli")
	s := &cliStack{bin: bin, dir: t.TempDir(), host: "clihost", db: testenv.Postgres(t)}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NOVAFLOW_") || strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "OTEL_") || k == "DATABASE_URL" || k == "PATH" || k == "NO_COLOR" {
			continue
		}
		s.env = append(s.env, kv)
	}
	s.env = append(s.env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NOVAFLOW_TEMPORAL_ADDRESS="+server.Address(), "NOVAFLOW_TEMPORAL_NAMESPACE="+namespace,
		"TEMPORAL_ADDRESS="+server.Address(), "TEMPORAL_NAMESPACE="+namespace,
		"NOVAFLOW_DATABASE_URL="+s.db, "NOVAFLOW_HOST="+s.host,
		"NOVAFLOW_COMPUTE_DRIVER=fake", "NOVAFLOW_VOLUME_DRIVER=fake")
	out := &testenv.Buffer{}
	dev := exec.Command(filepath.Join(bin, "novaflow"), "dev", "--health-address=",
		"--temporal-port", strconv.Itoa(testenv.FreePort(t)), "--ui-port", strconv.Itoa(testenv.FreePort(t)),
		"--postgres-port", strconv.Itoa(testenv.FreePort(t)))
	dev.Dir, dev.Env, dev.Stdout, dev.Stderr = s.dir, s.env, out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	t.Cleanup(func() {
		_ = dev.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("novaflow dev exited with %v\n%s", err, out)
			}
		case <-time.After(time.Minute):
			_ = dev.Process.Kill()
			t.Errorf("novaflow dev did not stop within a minute\n%s", out)
		}
		if t.Failed() {
			t.Logf("novaflow dev:\n%s", out)
		}
	})
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "novaflow dev is running") {
		select {
		case err := <-done:
			t.Fatalf("novaflow dev exited: %v\n%s", err, out)
		case <-deadline:
			t.Fatalf("novaflow dev did not start\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("built novaflow and started novaflow dev in %s", time.Since(began).Round(time.Millisecond))
	return s
}

// result is what one command did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// sh runs a shell command line in the stack's folder, with stdin.
func (s *cliStack) sh(t *testing.T, stdin, line string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env = s.dir, s.env
	// A command that hangs is killed with its shell (their process group),
	// and its output pipes are not waited for after that.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v", line, err)
	}
	return r
}

// nf runs `novaflow args...` (no shell).
func (s *cliStack) nf(t *testing.T, args ...string) result {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return s.sh(t, "", "novaflow "+strings.Join(quoted, " "))
}

// ok runs novaflow and wants exit 0.
func (s *cliStack) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := s.nf(t, args...)
	if r.code != 0 {
		t.Fatalf("novaflow %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// staleService records a compute service on host that was last seen up two
// hours ago: down, and down for long.
func (s *cliStack) staleService(t *testing.T, host string) {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := servicegroup.NewStore(pool).Register(ctx, host, "novaflow-compute", "compute", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE services SET created_at = now() - interval '2 hours',
		last_seen_up = now() - interval '2 hours' WHERE host = $1`, host); err != nil {
		t.Fatal(err)
	}
}

// TestCLI drives the built novaflow binary against one real dev stack:
// bad input to every command, the rows of docs/cli.md's cheat sheet (both
// the novaflow and the raw temporal command of each), output formats,
// request IDs, the confirmation prompt and completion.
func TestCLI(t *testing.T) {
	s := startCLIStack(t)

	t.Run("BadInput", func(t *testing.T) { testBadInput(t, s) })
	t.Run("Output", func(t *testing.T) { testOutput(t, s) })
	t.Run("RequestID", func(t *testing.T) { testRequestID(t, s) })
	t.Run("CheatSheet", func(t *testing.T) { testCheatSheet(t, s) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, s) })
	t.Run("Completion", func(t *testing.T) { testCompletion(t, s) })
	t.Run("OwnService", func(t *testing.T) { testOwnService(t, s) })
	t.Run("Terminal", func(t *testing.T) { testTerminal(t, s) })
	t.Run("Interrupt", func(t *testing.T) { testInterrupt(t, s) })
}

// testOwnService calls a manager of a user's own that the novaflow binary
// does not link (examples/dns, run by testdata/dnsservice) by name: its
// result, and its typed error naming the field.
func testOwnService(t *testing.T, s *cliStack) {
	bin := filepath.Join(t.TempDir(), "dnsservice")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/dnsservice").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := &testenv.Buffer{}
	svc := exec.Command(bin)
	svc.Dir, svc.Env, svc.Stdout, svc.Stderr = s.dir, append(s.env[:len(s.env):len(s.env)], "NOVAFLOW_HOST=dnshost"), out, out
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Wait() }()
	defer func() {
		_ = svc.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = svc.Process.Kill()
			t.Errorf("the dns service did not stop\n%s", out)
		}
		if t.Failed() {
			t.Logf("dns service:\n%s", out)
		}
	}()
	id := uuid.NewString()
	// The call waits for the service to take it (it may still be starting).
	r := s.sh(t, `{"record_id":"`+id+`","name":"www.example.org","type":"A","value":"10.0.0.1"}`,
		"novaflow call dns.create_record - -o value -c id,type,value")
	if r.code != 0 || strings.TrimSpace(r.stdout) != id+" A 10.0.0.1" {
		t.Fatalf("call dns.create_record: %s", r)
	}
	r = s.nf(t, "call", "dns.create_record", "--input", `{"record_id":"`+uuid.NewString()+`","name":"www.example.org","type":"MX","value":"x"}`)
	if r.code != exitRemote || !strings.Contains(r.stderr, "InvalidArgument: field type: must be A, AAAA, CNAME or TXT") {
		t.Errorf("a bad record, judged by the service: %s", r)
	}
	r = s.nf(t, "call", "dns.list_records", "-o", "json", "--host", "dnshost")
	if r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Errorf("call dns.list_records --host dnshost: %s", r)
	}
}

// testTerminal runs commands on a terminal (script(1) gives them one):
// colour in the tables, unless NO_COLOR; a progress line while waiting.
func testTerminal(t *testing.T, s *cliStack) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1) to run a command on a terminal")
	}
	r := s.sh(t, "", `script -qec "novaflow service list" /dev/null`)
	if r.code != 0 || !strings.Contains(r.stdout, ansiGreen+"up"+ansiReset) {
		t.Errorf("service list on a terminal, want up in green: %q", r.stdout)
	}
	// The codes of a painted column are of one length: the columns after it
	// start at the same offset on every line.
	var offsets []int
	for _, l := range strings.Split(r.stdout, "\n") {
		if i := strings.Index(l, "FORCED DOWN"); i >= 0 {
			offsets = append(offsets, i)
		} else if i := strings.Index(l, "false "); i >= 0 {
			offsets = append(offsets, i)
		}
	}
	for _, o := range offsets {
		if o != offsets[0] {
			t.Errorf("columns after a coloured one are not aligned (%v):\n%s", offsets, r.stdout)
			break
		}
	}
	r = s.sh(t, "", `NO_COLOR=1 script -qec "novaflow service list" /dev/null`)
	if r.code != 0 || strings.Contains(r.stdout, "\x1b[3") {
		t.Errorf("NO_COLOR on a terminal: %q", r.stdout)
	}
	r = s.sh(t, "", `script -qec "novaflow call nosuchtopic.do_it --timeout 3s --request-id req-tty" /dev/null`)
	if r.code != exitTimeout || !strings.Contains(r.stdout, "waiting for nosuchtopic.do_it/-/req-tty (2s)") {
		t.Errorf("a slow call on a terminal, want a progress line: %s", r)
	}
}

// testInterrupt: Ctrl-C stops the wait with exit 130 (SIGTERM: 143), and says which
// workflow goes on.
func testInterrupt(t *testing.T, s *cliStack) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(c.sig.String(), func(t *testing.T) { testInterruptBy(t, s, c.sig, c.code) })
	}
}

// testInterruptBy: sig stops the wait with exit code code.
func testInterruptBy(t *testing.T, s *cliStack, sig syscall.Signal, code int) {
	rid := fmt.Sprintf("req-int-%d", sig)
	cmd := exec.Command(filepath.Join(s.bin, "novaflow"), "call", "nosuchtopic.do_it", "--timeout", "1m", "--request-id", rid)
	cmd.Dir, cmd.Env = s.dir, s.env
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The CLI takes Ctrl-C from when it waits: first the workflow must
	// exist (a loaded machine may take seconds to start it), then a moment
	// for the wait to begin.
	deadline := time.Now().Add(time.Minute)
	for {
		r := s.sh(t, "", "temporal workflow describe --workflow-id 'nosuchtopic.do_it/-/"+rid+"' -o json >/dev/null")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the call's workflow was not started within a minute: %s", errOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	began := time.Now()
	_ = cmd.Process.Signal(sig)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != code || time.Since(began) > 5*time.Second ||
		!strings.Contains(errOut.String(), "stopped waiting for nosuchtopic.do_it/-/"+rid+", which goes on") {
		t.Errorf("%v while waiting: %v after %s, want exit code %d\n%s", sig, err, time.Since(began), code, errOut.String())
	}
}

func testBadInput(t *testing.T, s *cliStack) {
	nobody := uuid.NewString()
	vol := uuid.NewString()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		// The CLI's own checks: exit 2, nothing started.
		{[]string{"instance", "create", "web", "--vcpus", "0", "--", "sleep", "1"}, 2, "field flavor.vcpus"},
		{[]string{"instance", "create", "web"}, 2, "field image.command"},
		{[]string{"instance", "create", "web", "--env", "NOEQUALS", "--", "sleep", "1"}, 2, "field image.env[0]"},
		{[]string{"instance", "create", "web", "--uuid", "x", "--", "sleep", "1"}, 2, "field instance_uuids[0]"},
		{[]string{"instance", "list", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"instance", "show", "x"}, 2, "field instance_uuid"},
		{[]string{"instance", "reboot", "x"}, 2, "field instance_uuid"},
		{[]string{"instance", "stop"}, 2, "field instance_uuid: missing"},
		{[]string{"instance", "start", "x"}, 2, "field instance_uuid"},
		{[]string{"instance", "delete", "x"}, 2, "field instance_uuid"},
		{[]string{"instance", "reboot", nobody, "--request-id", "a/b"}, 2, "field request_id"},
		{[]string{"volume", "create", "--size", "0"}, 2, "field size_gb"},
		{[]string{"volume", "create", "--size", "1", "--id", "x"}, 2, "field volume_id"},
		{[]string{"volume", "create", "--size", "1", "--host", "bad host"}, 2, "field host"},
		{[]string{"volume", "list", "--status", "melted"}, 2, "field status"},
		{[]string{"volume", "show", "x"}, 2, "field volume_id"},
		{[]string{"volume", "attach", vol, "x"}, 2, "field instance_uuid"},
		{[]string{"volume", "detach", "x", nobody}, 2, "field volume_id"},
		{[]string{"volume", "delete", "x"}, 2, "field volume_id"},
		{[]string{"host", "show", "bad host"}, 2, "field host"},
		{[]string{"host", "list", "extra"}, 2, "unknown command"},
		{[]string{"service", "list", "-o", "yaml"}, 2, `--output "yaml"`},
		{[]string{"service", "disable", "onlyhost"}, 2, "field binary: missing"},
		{[]string{"service", "prune"}, 2, "field older-than"},
		{[]string{"service", "prune", "--older-than", "soon"}, 2, "field older-than"},
		{[]string{"call", "volume"}, 2, "want TOPIC.METHOD"},
		{[]string{"call", "volume.list_volumes", "--input", "[1]"}, 2, "field input"},
		{[]string{"call", "volume.create_volume", "--input", `{"volume_id":"` + vol + `","size_gb":1,"colour":"red"}`}, 2, "field colour"},
		{[]string{"call", "volume.create_volume", "--input", `{"size_gb":1}`}, 2, "field volume_id"},
		{[]string{"call", "compute.stop_instance", "--host", "bad host", "--input", "{}"}, 2, "field host"},
		{[]string{"call", "compute.stop_instancex", "--input", "{}"}, 2, "topic compute has no method stop_instancex in this binary (methods: build_and_run_instance, stop_instance,"},
		// The services' typed errors: exit 3, named.
		{[]string{"instance", "show", nobody}, 3, "NotFound: instance " + nobody},
		{[]string{"instance", "reboot", nobody}, 3, "NotFound"},
		{[]string{"instance", "create", "huge", "--memory-mb", "999999999", "--", "sleep", "1"}, 3, "BuildFailed"},
		{[]string{"volume", "show", vol}, 3, "NotFound: volume " + vol},
		{[]string{"volume", "delete", vol}, 3, "NotFound"},
		{[]string{"host", "show", "nosuchhost"}, 3, "NotFound: compute host nosuchhost"},
		{[]string{"service", "enable", "nosuchhost", "compute"}, 3, "NotFound: service novaflow-compute on nosuchhost"},
		{[]string{"call", "volume.delete_volume", "--input", `{"volume_id":"` + vol + `"}`}, 3, "NotFound"},
		// A topic no service serves: no one takes the call in time.
		{[]string{"call", "nosuchtopic.do_it", "--timeout", "3s"}, 4, "Timeout"},
		// A method on a host that does not have it: refused at once.
		{[]string{"call", "compute.stop_instancex", "--no-check", "--host", "clihost", "--timeout", "30s"}, 3, "UnsupportedVersion"},
	} {
		r := s.nf(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("novaflow %s: want exit %d and %q on stderr, got %s", strings.Join(c.args, " "), c.code, c.want, r)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 || strings.Contains(r.stderr, "panic") {
			t.Errorf("novaflow %s: want one line on stderr, got %s", strings.Join(c.args, " "), r)
		}
	}
	// A typed error as JSON on stdout, for scripts.
	r := s.nf(t, "volume", "show", vol, "-o", "json")
	var doc struct{ Error errorView }
	if r.code != 3 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.Error.Type != "NotFound" {
		t.Errorf("volume show -o json of a missing volume: want exit 3 and {\"error\":{\"type\":\"NotFound\"...}}, got %s", r)
	}
	r = s.nf(t, "call", "volume.create_volume", "-o", "json", "--input", `{"volume_id":"`+vol+`","size_gb":1,"colour":"red"}`)
	if r.code != 2 {
		t.Errorf("a local InvalidArgument: %s", r)
	}
	// An instance whose build found no host (ERROR, on no host) is deleted
	// by any compute host.
	r = s.ok(t, "instance", "list", "-o", "value", "-c", "name,uuid,vm_state")
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "huge" {
			if f[2] != "error" {
				t.Errorf("the instance of a build that found no host: %s", l)
			}
			r = s.ok(t, "instance", "delete", f[1], "-o", "value", "-c", "vm_state,deleted")
			if strings.TrimSpace(r.stdout) != "deleted true" {
				t.Errorf("delete of an instance on no host: %s", r)
			}
		}
	}
	// The services still answer after all of it.
	s.ok(t, "volume", "list")
	s.ok(t, "host", "show", s.host)
}

func testOutput(t *testing.T, s *cliStack) {
	r := s.ok(t, "instance", "create", "out", "--count", "2", "-o", "json", "--", "sleep", "3600")
	var built struct {
		RequestID string                                 `json:"request_id"`
		Instances []struct{ UUID, Host, VMState string } `json:"instances"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &built); err != nil || len(built.Instances) != 2 {
		t.Fatalf("instance create -o json: %v\n%s", err, r)
	}
	for _, i := range built.Instances {
		if i.Host != s.host {
			t.Errorf("built instance %+v, want it on %s", i, s.host)
		}
	}
	if !strings.HasPrefix(built.RequestID, "req-") {
		t.Errorf("request id %q, want req-<uuid>", built.RequestID)
	}
	id := built.Instances[0].UUID

	// value: bare fields, one row per line.
	r = s.ok(t, "instance", "show", id, "-o", "value", "-c", "vm_state,host,flavor.vcpus")
	if got := strings.TrimSpace(r.stdout); got != "active "+s.host+" 1" {
		t.Errorf("show -o value -c vm_state,host,flavor.vcpus: %q", got)
	}
	r = s.ok(t, "instance", "list", "-o", "value", "-c", "uuid")
	if !strings.Contains(r.stdout, id+"\n") {
		t.Errorf("list -o value -c uuid lacks %s:\n%s", id, r.stdout)
	}
	// jsonl: one object per line.
	r = s.ok(t, "instance", "list", "-o", "jsonl")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 2 {
		t.Errorf("list -o jsonl: %s", r)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["uuid"] == nil {
			t.Errorf("list -o jsonl line %q: %v", l, err)
		}
	}
	// A table of chosen columns, and an unknown column.
	r = s.ok(t, "host", "list", "-c", "host,instances")
	if !strings.Contains(r.stdout, "HOST") || !strings.Contains(r.stdout, "INSTANCES") || !strings.Contains(r.stdout, s.host) {
		t.Errorf("host list -c host,instances: %s", r)
	}
	if r = s.nf(t, "instance", "list", "-c", "colour"); r.code != 2 || !strings.Contains(r.stderr, `--column "colour": no such field`) {
		t.Errorf("an unknown column: %s", r)
	}
	// host list: capacity, usage, instances.
	r = s.ok(t, "host", "list", "-o", "json")
	var hostRows []hostView
	if err := json.Unmarshal([]byte(r.stdout), &hostRows); err != nil || len(hostRows) != 1 {
		t.Fatalf("host list -o json: %v\n%s", err, r)
	}
	if h := hostRows[0]; h.Host != s.host || h.VCPUs == 0 || h.VCPUsUsed < 2 || h.Instances < 2 || h.State != "up" || h.VCPUsFree != h.VCPUs-h.VCPUsUsed {
		t.Errorf("host list: %+v", h)
	}
	// The deprecated --json, mutations as JSON, no colour off a terminal.
	r = s.ok(t, "service", "list", "--json")
	var svcs []serviceView
	if err := json.Unmarshal([]byte(r.stdout), &svcs); err != nil || len(svcs) < 4 {
		t.Errorf("service list --json: %v\n%s", err, r)
	}
	r = s.ok(t, "service", "disable", s.host, "scheduler", "-o", "json", "--reason", "output test")
	var rec servicegroup.Record
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil || !rec.Disabled || rec.DisabledReason != "output test" {
		t.Errorf("service disable -o json: %v\n%s", err, r)
	}
	s.ok(t, "service", "enable", s.host, "scheduler")
	if r = s.ok(t, "service", "list"); strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("colour off a terminal:\n%q", r.stdout)
	}
	r = s.ok(t, "instance", "reboot", id, "-o", "value", "-c", "vm_state")
	if strings.TrimSpace(r.stdout) != "active" {
		t.Errorf("reboot -o value -c vm_state: %s", r)
	}
	// --version is version's output.
	v1, v2 := s.ok(t, "--version"), s.ok(t, "version")
	if v1.stdout != v2.stdout || !strings.Contains(v1.stdout, "topic compute") {
		t.Errorf("--version:\n%s\nversion:\n%s", v1.stdout, v2.stdout)
	}
	for _, id := range built.Instances {
		s.ok(t, "instance", "delete", id.UUID)
	}
}

func testRequestID(t *testing.T, s *cliStack) {
	rid := "req-cli-" + uuid.NewString()[:8]
	r := s.ok(t, "instance", "create", "idem", "--request-id", rid, "--no-wait", "-o", "json", "--", "sleep", "3600")
	var st started
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.WorkflowID != "conductor.build_instances/-/"+rid {
		t.Fatalf("--no-wait -o json: %v\n%s", err, r)
	}
	// The same request again waits for the same build; a third time, long
	// finished, gives the same result and builds nothing.
	first := s.ok(t, "instance", "create", "idem", "--request-id", rid, "-o", "value", "-c", "instances", "--", "sleep", "3600")
	again := s.ok(t, "instance", "create", "idem", "--request-id", rid, "-o", "value", "-c", "instances", "--", "sleep", "3600")
	if first.stdout != again.stdout || !strings.Contains(first.stdout, "active") {
		t.Errorf("the same request id twice:\n%s\n%s", first.stdout, again.stdout)
	}
	r = s.ok(t, "instance", "list", "-o", "value", "-c", "name,uuid")
	if n := strings.Count(r.stdout, "idem "); n != 1 {
		t.Errorf("%d instances named idem, want 1:\n%s", n, r.stdout)
	}
	id := strings.Fields(strings.Split(r.stdout[strings.Index(r.stdout, "idem "):], "\n")[0])[1]
	// An operation's request ID is its workflow's and its audit row's.
	r = s.ok(t, "instance", "stop", id, "--request-id", rid+"-stop", "--no-wait")
	if strings.TrimSpace(r.stdout) != "compute.stop_instance/-/"+rid+"-stop" {
		t.Errorf("stop --no-wait: %s", r)
	}
	s.ok(t, "instance", "stop", id, "--request-id", rid+"-stop")
	r = s.ok(t, "instance", "show", id)
	if !strings.Contains(r.stdout, rid+"-stop") || !strings.Contains(r.stdout, "stopped") {
		t.Errorf("show after stop: %s", r)
	}
	s.ok(t, "instance", "delete", id)
}

// cheatRow is a row of docs/cli.md's cheat sheet.
type cheatRow struct {
	line                     int
	nova, novaflow, temporal string
}

// parseCheatSheet reads the table after <!-- cli:cheatsheet --> in
// docs/cli.md.
func parseCheatSheet(t *testing.T) []cheatRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []cheatRow
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "<!-- cli:cheatsheet -->":
			in = true
			continue
		case !in:
			continue
		case !strings.HasPrefix(line, "|"):
			if len(rows) > 0 {
				return rows
			}
			continue
		}
		cells := splitRow(line)
		if len(cells) != 3 {
			t.Fatalf("docs/cli.md:%d: %d cells, want 3: %s", n, len(cells), line)
		}
		if strings.HasPrefix(cells[0], "---") || strings.HasPrefix(cells[1], "novaflow") && !strings.HasPrefix(cells[1], "`") {
			continue // the header and its rule
		}
		rows = append(rows, cheatRow{line: n, nova: cells[0], novaflow: code(cells[1]), temporal: code(cells[2])})
	}
	return rows
}

// splitRow splits a table row into its cells; a | inside `code` is text.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range line {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

var placeholderRE = regexp.MustCompile(`<[a-z-]+>`)

var codeRE = regexp.MustCompile("^`([^`]+)`$")

// code is the command of a cell that is one `command`; "" for a cell
// without one (—).
func code(cell string) string {
	if m := codeRE.FindStringSubmatch(cell); m != nil {
		return m[1]
	}
	return ""
}

func testCheatSheet(t *testing.T, s *cliStack) {
	rows := parseCheatSheet(t)
	if len(rows) < 20 {
		t.Fatalf("docs/cli.md's cheat sheet has %d rows", len(rows))
	}
	s.staleService(t, "gone-del")
	// Each column runs on objects of its own: an instance built here, a
	// volume its create row makes.
	column := func(name string) map[string]string {
		id := uuid.NewString()
		s.ok(t, "instance", "create", "sheet-"+name, "--uuid", id, "--", "sleep", "3600")
		return map[string]string{"<uuid>": id, "<volume>": uuid.NewString(), "<host>": s.host, "<down-host>": "gone-del"}
	}
	subst := map[string]map[string]string{"novaflow": column("novaflow"), "temporal": column("temporal")}
	ran := 0
	for _, row := range rows {
		if row.novaflow == "" || !strings.HasPrefix(row.novaflow, "novaflow ") {
			t.Errorf("docs/cli.md:%d: the novaflow cell is not one novaflow command: %+v", row.line, row)
			continue
		}
		if strings.Contains(row.novaflow, "service prune") {
			s.staleService(t, "gone-prune")
		}
		for _, col := range []struct{ name, cmd string }{{"novaflow", row.novaflow}, {"temporal", row.temporal}} {
			if col.cmd == "" {
				continue
			}
			line := col.cmd
			for k, v := range subst[col.name] {
				line = strings.ReplaceAll(line, k, v)
			}
			if placeholderRE.MatchString(line) {
				t.Errorf("docs/cli.md:%d: a placeholder the test does not know: %s", row.line, line)
				continue
			}
			r := s.sh(t, "", line)
			if r.code != 0 {
				t.Errorf("docs/cli.md:%d: %s\n%s", row.line, line, r)
				continue
			}
			ran++
		}
	}
	t.Logf("ran %d commands of %d cheat sheet rows", ran, len(rows))
	// What the rows did: the instances are gone, the stale rows pruned.
	for col, sub := range subst {
		r := s.nf(t, "instance", "show", sub["<uuid>"], "-o", "value", "-c", "vm_state")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "deleted" {
			t.Errorf("the %s column's instance after the sheet: %s", col, r)
		}
		r = s.nf(t, "volume", "show", sub["<volume>"], "-o", "value", "-c", "status")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "deleted" {
			t.Errorf("the %s column's volume after the sheet: %s", col, r)
		}
	}
	r := s.ok(t, "service", "list", "-o", "value", "-c", "host")
	if strings.Contains(r.stdout, "gone-") {
		t.Errorf("stale services left after delete and prune:\n%s", r.stdout)
	}
}

func testPrune(t *testing.T, s *cliStack) {
	s.staleService(t, "gone-ask")
	r := s.sh(t, "n\n", "novaflow service prune --older-than 1h")
	if r.code != 1 || !strings.Contains(r.stderr, "gone-ask") || !strings.Contains(r.stderr, "not confirmed") {
		t.Errorf("prune answered n: %s", r)
	}
	if r = s.sh(t, "", "novaflow service prune --older-than 1h"); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("prune without an answer: %s", r)
	}
	// Only the stale row: the live services are not down, and a longer age spares it.
	if r = s.sh(t, "y\n", "novaflow service prune --older-than 3h -o json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("prune --older-than 3h: %s", r)
	}
	r = s.sh(t, "y\n", "novaflow service prune --older-than 1h -o value -c host,binary")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "gone-ask novaflow-compute" {
		t.Errorf("prune answered y: %s", r)
	}
	r = s.ok(t, "service", "list", "-o", "value", "-c", "host,state")
	if strings.Contains(r.stdout, "gone-ask") || !strings.Contains(r.stdout, s.host+" up") {
		t.Errorf("after prune:\n%s", r.stdout)
	}
	testPruneComeBack(t, s)
}

// testPruneComeBack: a service that comes back up while prune's prompt
// waits is skipped (said so on stderr) and keeps its row; the others
// listed are deleted.
func testPruneComeBack(t *testing.T, s *cliStack) {
	s.staleService(t, "gone-back")
	s.staleService(t, "gone-still")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "novaflow"), "service", "prune", "--older-than", "1h", "-o", "value", "-c", "host")
	cmd.Dir, cmd.Env = s.dir, s.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(stderr.String(), "[y/N]") {
		select {
		case <-ctx.Done():
			t.Fatalf("no prompt:\n%s", stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// gone-back starts again while the prompt waits.
	pool, err := db.Open(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := servicegroup.NewStore(pool).Register(ctx, "gone-back", "novaflow-compute", "compute", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "y\n"); err != nil {
		t.Fatal(err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("prune: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if strings.TrimSpace(stdout.String()) != "gone-still" || !strings.Contains(stderr.String(), "skipped novaflow-compute on gone-back") {
		t.Errorf("prune with gone-back back meanwhile:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	r := s.ok(t, "service", "list", "-o", "value", "-c", "host,state")
	if !strings.Contains(r.stdout, "gone-back ") || strings.Contains(r.stdout, "gone-still") {
		t.Errorf("after prune:\n%s", r.stdout)
	}
	s.ok(t, "service", "delete", "--force", "gone-back", "novaflow-compute")
}

func testCompletion(t *testing.T, s *cliStack) {
	id := uuid.NewString()
	s.ok(t, "instance", "create", "compl", "--uuid", id, "--", "sleep", "3600")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "instance", "show", ""}, id},
		{[]string{"__complete", "instance", "reboot", ""}, id},
		{[]string{"__complete", "call", ""}, "compute.stop_instance"},
		{[]string{"__complete", "call", ""}, "volume.create_volume"},
		{[]string{"__complete", "host", "show", ""}, s.host},
		{[]string{"__complete", "service", "disable", ""}, s.host},
		{[]string{"__complete", "service", "disable", s.host, ""}, "novaflow-compute"},
		{[]string{"__complete", "run", ""}, "conductor"},
		{[]string{"__complete", "instance", "list", "--host", ""}, s.host},
		{[]string{"__complete", "service", "list", "-o", ""}, "jsonl"},
		{[]string{"completion", "bash"}, "__start_novaflow"},
	} {
		r := s.ok(t, c.args...)
		if !strings.Contains(r.stdout, c.want) {
			t.Errorf("novaflow %s: want %q in\n%s", strings.Join(c.args, " "), c.want, r.stdout)
		}
	}
	s.ok(t, "volume", "create", "--size", "1", "--name", "compl")
	r := s.ok(t, "__complete", "volume", "delete", "")
	if !strings.Contains(r.stdout, "compl available") {
		t.Errorf("volume IDs: %s", r.stdout)
	}
	// A stack that does not answer completes nothing, quickly.
	began := time.Now()
	r = s.sh(t, "", "NOVAFLOW_DATABASE_URL=postgres://127.0.0.1:1/none novaflow __complete instance show ''")
	if r.code != 0 || strings.Contains(r.stdout, "-") && strings.Count(r.stdout, "\n") > 1 || time.Since(began) > 10*time.Second {
		t.Errorf("completion without a database (%s): %s", time.Since(began), r)
	}
	s.ok(t, "instance", "delete", id)
}

// TestEveryCommandHasExamples: the help of every command that runs
// something shows examples, and every one takes the output flags.
func TestEveryCommandHasExamples(t *testing.T) {
	root := newRootCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		if c.Runnable() && c.Flag("output") == nil {
			t.Errorf("%s has no -o", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	code, out, _ := run(t, "instance", "create", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--request-id") || !strings.Contains(out, "-o, --output") {
		t.Errorf("instance create --help: exit %d\n%s", code, out)
	}
}
