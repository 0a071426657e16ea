package worker

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novaflow/novaflow/internal/devstack"
	"github.com/novaflow/novaflow/servicegroup"
	"github.com/novaflow/novaflow/testenv"
)

// child is a schedtest service running in a subprocess (the test binary
// re-executed with helperEnv), as `novaflow run schedtest` would run.
type child struct {
	cmd *exec.Cmd
	out *testenv.Buffer
}

// startChild starts a service process with cfg's settings.
func startChild(t *testing.T, cfg Config) *child {
	t.Helper()
	testTasks.Store(cfg.Host, nil)
	env := []string{helperEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvPrefix+"_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	for k, v := range map[string]string{
		"HOST": cfg.Host, "TEMPORAL_ADDRESS": cfg.TemporalAddress, "TEMPORAL_NAMESPACE": cfg.TemporalNamespace,
		"DATABASE_URL": cfg.DatabaseURL, "REPORT_INTERVAL": cfg.ReportInterval.String(),
		"SERVICE_DOWN_TIME": cfg.ServiceDownTime.String(), "PERIODIC_FUZZY_DELAY": "0s", "LOG_LEVEL": "info",
	} {
		env = append(env, EnvPrefix+"_"+k+"="+v)
	}
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), out: &testenv.Buffer{}}
	c.cmd.Env = env
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("service process output:\n%s", c.out.String())
		}
	})
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// killedServiceGoesDown starts a service process, waits until it is up, kills
// it with SIGKILL and measures how long `service list` keeps showing it up;
// then starts it again and measures how soon it is up.
func killedServiceGoesDown(t *testing.T, cfg Config, bound time.Duration) {
	h := newHarness(t)
	cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL = h.tmp.Address(), h.tmp.Namespace(), h.dbURL
	downTime := cfg.DownTime()
	t.Cleanup(func() { h.deleteSchedules(cfg.Host) })

	first := startChild(t, cfg)
	took := eventually(t, 60*time.Second, "the service process to be up", func() bool {
		up, r := h.up(cfg.Host, downTime)
		return up && r.ReportCount >= 1
	})
	t.Logf("process up %s after exec", took.Round(time.Millisecond))

	_, before := h.up(cfg.Host, downTime)
	killed := time.Now()
	first.kill()
	took = eventually(t, bound+10*time.Second, "the killed service to be down", func() bool {
		up, _ := h.up(cfg.Host, downTime)
		return !up
	})
	_, after := h.up(cfg.Host, downTime)
	t.Logf("report_interval %s, effective service_down_time %s: SIGKILLed service down after %s (bound %s)",
		cfg.ReportInterval, downTime, took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("the killed service showed up for %s, want at most %s", took, bound)
	}
	if after.ReportCount != before.ReportCount && after.LastSeenUp.After(killed) {
		t.Error("a report was written after the service was killed")
	}

	startChild(t, cfg)
	took = eventually(t, 60*time.Second, "the restarted service to be up", func() bool {
		up, _ := h.up(cfg.Host, downTime)
		return up
	})
	t.Logf("restarted service up %s after exec", took.Round(time.Millisecond))
}

func TestKilledServiceGoesDown(t *testing.T) {
	t.Parallel()
	cfg := Config{Host: testenv.UniqueName(t, "host"), ReportInterval: time.Second, ServiceDownTime: 2 * time.Second}
	// Down when the last report is older than 2.5 s; it was at most one
	// interval old when the process died.
	killedServiceGoesDown(t, cfg, cfg.DownTime()+cfg.ReportInterval+time.Second)
}

// TestKilledServiceGoesDownWithin30sAtDefaults checks the promise of the
// defaults (report_interval 10s, service_down_time 25s): `service list` shows
// a SIGKILLed service down within 30 s. It takes 15 to 25 s.
func TestKilledServiceGoesDownWithin30sAtDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes up to 25 s")
	}
	t.Parallel()
	cfg := Config{Host: testenv.UniqueName(t, "host"), ReportInterval: 10 * time.Second, ServiceDownTime: 25 * time.Second}
	killedServiceGoesDown(t, cfg, 30*time.Second)
}

// TestReportsRecoverAfterDatabaseRestart stops the service's PostgreSQL under
// it and starts it again on the same data directory and port: the failure is
// logged once, the service keeps running, and reports resume (logged as
// recovered) without a restart.
func TestReportsRecoverAfterDatabaseRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	dir, err := os.MkdirTemp("", "novaflow-reporttest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as postgres when the test runs as root.
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := devstack.PostgresOptions{DataDir: filepath.Join(dir, "pg")}
	pg, err := devstack.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	u, err := url.Parse(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}

	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.DatabaseURL = pg.URL()
	svc := h.start(cfg)
	own := servicegroup.NewStore(h.pool(pg.URL()))
	eventually(t, 10*time.Second, "the first report", func() bool {
		r, err := own.Get(ctx, cfg.Host, testBinary)
		return err == nil && r.ReportCount >= 1
	})

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	wf := "schedtest.report_state"
	eventually(t, 20*time.Second, "three failed reports", func() bool { return h.runs(cfg.Host, wf)["Failed"] >= 3 })
	t.Logf("3 reports failed in the %s after PostgreSQL stopped", time.Since(stopped).Round(time.Millisecond))
	if !svc.Ready() {
		t.Fatal("the service stopped with its database")
	}

	if pg, err = devstack.StartPostgres(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	restarted := time.Now()
	took := eventually(t, 20*time.Second, "reports to recover", func() bool {
		r, err := own.Get(ctx, cfg.Host, testBinary)
		return err == nil && r.LastSeenUp != nil && r.LastSeenUp.After(restarted.Add(-time.Second)) && svc.logs.count("status report recovered") == 1
	})
	t.Logf("reports recovered %s after PostgreSQL came back", took.Round(time.Millisecond))
	if n := svc.logs.count("level=ERROR", "status report failed"); n != 1 {
		t.Errorf("the database outage was logged %d times at error level, want once", n)
	}
	if n := svc.logs.count("level=INFO", "status report recovered"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}

// TestNoFalseDownWhileDatabaseStalls holds a lock on the service's row, so
// that its reports wait, for less than service_down_time - report_interval:
// the service must never show down meanwhile, because a report stamps
// last_seen_up with the time it started (the database's now()), and the last
// report before the stall is at most one interval old.
func TestNoFalseDownWhileDatabaseStalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config(testenv.UniqueName(t, "host"))
	cfg.ServiceDownTime = 3 * time.Second // report_interval 1s: a stall of up to 2s is harmless
	const stall = 1500 * time.Millisecond
	h.start(cfg)
	ctx := context.Background()
	eventually(t, 10*time.Second, "the first reports", func() bool { r := h.record(cfg.Host); return r != nil && r.ReportCount >= 2 })

	pool := h.pool(h.dbURL)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM services WHERE host = $1 AND NOT deleted FOR UPDATE`, cfg.Host); err != nil {
		t.Fatal(err)
	}
	locked := h.record(cfg.Host).ReportCount
	start := time.Now()
	for time.Since(start) < stall {
		if up, r := h.up(cfg.Host, cfg.DownTime()); !up {
			t.Fatalf("false down %s into a %s database stall (last_seen_up %s)", time.Since(start).Round(time.Millisecond), stall, r.LastSeenUp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.record(cfg.Host).ReportCount; got != locked {
		t.Fatalf("a report got through the lock (report_count %d -> %d)", locked, got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	for time.Since(released) < 2*time.Second {
		if up, _ := h.up(cfg.Host, cfg.DownTime()); !up {
			t.Fatalf("false down %s after the stall ended", time.Since(released).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.record(cfg.Host).ReportCount; got <= locked {
		t.Errorf("no report after the stall (report_count %d)", got)
	}
}
