package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novaflow/novaflow/testenv"
)

// helperEnv makes the test binary run the novaflow command line given in it
// (JSON) instead of the tests: see runHelper.
const helperEnv = "NOVAFLOW_TEST_HELPER_ARGS"

// runHelper runs the novaflow command of novaflowProcess instead of the
// tests when helperEnv is set (see TestMain), and reports whether it did.
func runHelper() (int, bool) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		return 0, false
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2, true
	}
	return execute(append([]string{"novaflow"}, args...), os.Stdout, os.Stderr), true
}

// novaflowProcess starts `novaflow args...` as a process of its own, with
// env on top of this one's environment less every NOVAFLOW_, DATABASE_URL
// and OTEL_ variable, in an empty folder. Its stdout and stderr go to out.
func novaflowProcess(t *testing.T, env map[string]string, out io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOVAFLOW_") && !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, helperEnv+"="+string(raw))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// secrets are what must never be printed.
var secrets = []string{"pw-s3cr3t-8d1f", "key-s3cr3t-4b7c", "otlp-s3cr3t-9e2a"}

func checkNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Errorf("%s prints secret %q: …%s…", what, s, text[max(0, i-200):min(len(text), i+len(s)+100)])
		}
	}
}

// TestNoSecretIsPrinted runs novaflow with a database password, a Temporal
// API key and a collector API key, debug logs, every span printed and an
// unreachable collector, then with bad settings that make it fail; no byte
// it prints, nor /metrics, holds a secret.
func TestNoSecretIsPrinted(t *testing.T) {
	pw, apiKey, otlpKey := secrets[0], secrets[1], secrets[2]
	srv := testenv.Temporal(t)
	dbURL := passwordURL(t, testenv.Postgres(t), pw)

	t.Run("running service", func(t *testing.T) {
		health := freeAddress(t)
		var out testenv.Buffer
		cmd := novaflowProcess(t, map[string]string{
			"NOVAFLOW_DATABASE_URL":     dbURL,
			"NOVAFLOW_TEMPORAL_ADDRESS": srv.Address(),
			"NOVAFLOW_HOST":             testenv.UniqueName(t, "h"),
			"NOVAFLOW_HEALTH_ADDRESS":   health,
			"NOVAFLOW_LOG_LEVEL":        "debug",
			"NOVAFLOW_LOG_FORMAT":       "json",
			"NOVAFLOW_REPORT_INTERVAL":  "1s",
			"NOVAFLOW_VERSIONING":       "off",
			"NOVAFLOW_COMPUTE_DRIVER":   "fake",
			// Every span on stdout; metrics pushed to nowhere every half
			// second, with a key.
			"OTEL_TRACES_EXPORTER":                "console",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://127.0.0.1:1",
			"OTEL_EXPORTER_OTLP_HEADERS":          "api-key=" + otlpKey,
			"OTEL_METRIC_EXPORT_INTERVAL":         "500",
		}, &out, "run", "compute")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
			}
		}()

		// Up, then a few reports and failed metric pushes.
		deadline := time.Now().Add(2 * time.Minute)
		for !ready(health) {
			select {
			case err := <-done:
				t.Fatalf("novaflow run exited: %v\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready in 2 minutes:\n%s", out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2500 * time.Millisecond)
		metrics := get(t, "http://"+health+"/metrics")
		for _, want := range []string{"novaflow_reports_total", "novaflow_services", "temporal_request_total", "db_client_operation_duration_seconds"} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		checkNoSecret(t, "/metrics", metrics)

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("novaflow run after SIGTERM: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("novaflow run did not stop in a minute")
		}
		text := out.String()
		// The output is what the test says it is: debug logs, spans with
		// SQL, the collector's errors.
		for _, want := range []string{`"level":"DEBUG"`, `"Name":"report compute"`, `"db.query.text"`, "telemetry failed", "service stopped"} {
			if !strings.Contains(text, want) {
				t.Errorf("the output lacks %s", want)
			}
		}
		checkNoSecret(t, "novaflow run", text)
	})

	bad := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unreachable database", map[string]string{"NOVAFLOW_DATABASE_URL": "postgres://nova:" + pw + "@127.0.0.1:1/nova"},
			"connect to PostgreSQL at postgres://nova:xxxxx@127.0.0.1:1/nova"},
		{"malformed database URL", map[string]string{"NOVAFLOW_DATABASE_URL": "postgres://nova:" + pw + "@127.0.0.1:port/nova"},
			"NOVAFLOW_DATABASE_URL"},
		{"key=value DSN", map[string]string{"NOVAFLOW_DATABASE_URL": "host=127.0.0.1 port=1 user=nova password=" + pw + " dbname=nova"},
			"NOVAFLOW_DATABASE_URL"},
		{"Temporal API key", map[string]string{"NOVAFLOW_DATABASE_URL": dbURL, "NOVAFLOW_TEMPORAL_API_KEY": apiKey},
			"NOVAFLOW_TEMPORAL_"},
		{"bad collector protocol", map[string]string{"NOVAFLOW_DATABASE_URL": dbURL,
			"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.invalid:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + otlpKey,
			"OTEL_EXPORTER_OTLP_PROTOCOL": "xml"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{
				"NOVAFLOW_TEMPORAL_ADDRESS": srv.Address(), "NOVAFLOW_HOST": testenv.UniqueName(t, "h"),
				"NOVAFLOW_LOG_LEVEL": "debug", "NOVAFLOW_VERSIONING": "off", "NOVAFLOW_COMPUTE_DRIVER": "fake",
			}
			for k, v := range c.env {
				env[k] = v
			}
			var out testenv.Buffer
			cmd := novaflowProcess(t, env, &out, "run", "compute")
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case <-waited:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("novaflow run did not fail in 2 minutes:\n%s", out.String())
			}
			text := out.String()
			if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(text, "novaflow: ") || !strings.Contains(text, c.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit 1 and an error naming %q", code, text, c.want)
			}
			checkNoSecret(t, "novaflow run", text)
		})
	}
}

// passwordURL returns the URL of the test database admin points at, for a
// new role that logs in with password pw.
func passwordURL(t *testing.T, admin, pw string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := strings.ReplaceAll(testenv.UniqueName(t, "r"), "-", "_")
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'`, role, pw)); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, pw)
	return u.String()
}

// freeAddress is a loopback address with a port free a moment ago.
func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func ready(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func get(t *testing.T, u string) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
