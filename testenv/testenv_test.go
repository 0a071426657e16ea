package testenv_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/novaflow/novaflow/testenv"
	"github.com/novaflow/novaflow/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPostgresGivesEachTestAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	var first string
	t.Run("first", func(t *testing.T) {
		first = testenv.Postgres(t)
		t.Logf("first database (with the cluster start) in %s: %s", time.Since(start).Round(time.Millisecond), first)
		conn, err := pgx.Connect(ctx, first)
		if err != nil {
			t.Fatalf("connecting: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE TABLE mine (id int)"); err != nil {
			t.Fatalf("creating a table: %v", err)
		}
	})

	start = time.Now()
	second := testenv.Postgres(t)
	t.Logf("second database in %s: %s", time.Since(start).Round(time.Millisecond), second)
	if second == first {
		t.Fatalf("two tests got the same database %s", first)
	}
	conn, err := pgx.Connect(ctx, second)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("new database has %d tables (%v), want 0", tables, err)
	}

	// The first test is over: its database is gone.
	if c, err := pgx.Connect(ctx, first); err == nil {
		c.Close(ctx)
		t.Errorf("database %s of a finished test still exists", first)
	} else if !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("connecting to the database of a finished test: %v, want 'does not exist'", err)
	}
}

func greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greeting, name).Get(ctx, &out)
	return out, err
}

func greeting(_ context.Context, name string) (string, error) { return "hello " + name, nil }

func TestTemporalRunsAWorkflow(t *testing.T) {
	start := time.Now()
	srv := testenv.Temporal(t)
	t.Logf("temporal at %s (namespace %s) in %s", srv.Address(), srv.Namespace(), time.Since(start).Round(time.Millisecond))
	c := srv.Client(t)

	queue := testenv.UniqueName(t, "queue")
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(greet)
	w.RegisterActivity(greeting)
	if err := w.Start(); err != nil {
		t.Fatalf("starting worker: %v", err)
	}
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start = time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    testenv.UniqueName(t, "wf"),
		TaskQueue:             queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.HostKey.ValueSet("h1")),
	}, greet, "novaflow")
	if err != nil {
		t.Fatalf("starting workflow: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hello novaflow" {
		t.Fatalf("workflow result %q, %v; want hello novaflow", out, err)
	}
	t.Logf("workflow with one activity took %s", time.Since(start).Round(time.Millisecond))
	desc, err := c.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatalf("describing workflow: %v", err)
	}
	if host, ok := desc.TypedSearchAttributes.GetKeyword(workflows.HostKey); !ok || host != "h1" {
		t.Errorf("search attribute %s = %q, %v; want h1", workflows.HostKey.GetName(), host, ok)
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for range 100 {
		name := testenv.UniqueName(t, "Host_A")
		if !valid.MatchString(name) || len(name) > 40 || !strings.HasPrefix(name, "host-a-uniquename-") {
			t.Fatalf("UniqueName = %q, want host-a-uniquename-<hex>, lowercase, at most 40 bytes", name)
		}
		if seen[name] {
			t.Fatalf("UniqueName repeated %q", name)
		}
		seen[name] = true
	}
	t.Run("a very long subtest name that goes on and on", func(t *testing.T) {
		if name := testenv.UniqueName(t, "q"); len(name) > 40 || !valid.MatchString(name) {
			t.Errorf("UniqueName = %q, want at most 40 bytes", name)
		}
	})
}

// TestEnvironment runs this test binary again with environment variables that
// point testenv elsewhere, and checks the outcome of TestHelperUsesTestenv.
func TestEnvironment(t *testing.T) {
	dbURL := testenv.Postgres(t)
	srv := testenv.Temporal(t)
	tests := []struct {
		name     string
		env      []string
		wantPass bool
		want     string
	}{
		{
			name:     "existing servers",
			env:      []string{"NOVAFLOW_DATABASE_URL=" + dbURL, "NOVAFLOW_TEMPORAL_ADDRESS=" + srv.Address()},
			wantPass: true,
		},
		{
			name: "no PostgreSQL binaries",
			env:  []string{"NOVAFLOW_DATABASE_URL=", "DATABASE_URL=", "NOVAFLOW_PG_BINDIR=" + t.TempDir(), "TESTENV_HELPER_ONLY=postgres"},
			want: "PostgreSQL server binaries not found (initdb, postgres): install the postgresql package or set NOVAFLOW_PG_BINDIR",
		},
		{
			name: "no Temporal CLI",
			env:  []string{"NOVAFLOW_TEMPORAL_ADDRESS=", "NOVAFLOW_TEMPORAL_CLI=/nonexistent/temporal", "TESTENV_HELPER_ONLY=temporal"},
			want: "NOVAFLOW_TEMPORAL_CLI=/nonexistent/temporal is not a file",
		},
		{
			name: "unreachable database",
			env:  []string{"NOVAFLOW_DATABASE_URL=postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "TESTENV_HELPER_ONLY=postgres"},
			want: "testenv: creating test database",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperUsesTestenv$", "-test.v")
			cmd.Env = append(os.Environ(), append([]string{"TESTENV_HELPER=1"}, tt.env...)...)
			out, err := cmd.CombinedOutput()
			if tt.wantPass {
				if err != nil {
					t.Fatalf("helper failed: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(string(out), "--- FAIL") || strings.Contains(string(out), "--- SKIP") {
				t.Fatalf("helper: %v, want a failed test:\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("helper output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestHelperUsesTestenv is run by TestEnvironment; it does nothing otherwise.
func TestHelperUsesTestenv(t *testing.T) {
	if os.Getenv("TESTENV_HELPER") != "1" {
		return
	}
	only := os.Getenv("TESTENV_HELPER_ONLY")
	if only == "" || only == "postgres" {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, testenv.Postgres(t))
		if err != nil {
			t.Fatalf("connecting: %v", err)
		}
		conn.Close(ctx)
	}
	if only == "" || only == "temporal" {
		c := testenv.Temporal(t).Client(t)
		if _, err := c.CheckHealth(context.Background(), &client.CheckHealthRequest{}); err != nil {
			t.Fatalf("checking health: %v", err)
		}
	}
}
